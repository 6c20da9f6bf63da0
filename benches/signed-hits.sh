#!/usr/bin/env bash
# Signed versus unsigned cache hits on the same 1 KiB object, measured in one run with wrk
# (HTTP/1.1 keep-alive, 50 connections, 2 threads) on loopback, interleaving the two so that
# machine noise hits both alike. Target (issue 3): signed >= 0.9 x unsigned requests/s.
#
#   benches/signed-hits.sh [ROUNDS] [SECONDS]      # defaults: 3 rounds of 10 s each
#
# Builds edgegate in release mode, installs wrk (Debian) if missing, starts an edge on
# ephemeral loopback ports with a local-directory origin, and prints (and appends to the day's
# benches/results/YYYY-MM-DD-signed-hits.md, UTC) a table of requests/s, p50 and p99 latency and
# the ratio.
set -euo pipefail
rounds="${1:-3}"
secs="${2:-10}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
cd "$root"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --locked -q
bin="$root/target/release/edgegate"

work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/site/signed"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$work/site/obj-1k.txt"
cp "$work/site/obj-1k.txt" "$work/site/signed/obj-1k.txt"
cat > "$work/edgegate.toml" <<TOML
[local_origins]
site = "site"

[[public_keys]]
id = "KBENCH0000001"
name = "bench"
encoded_key_file = "$root/keys/demo-public.pem"

[[key_groups]]
id = "00000000-0000-4000-8000-00000000be0c"
name = "bench"
items = ["KBENCH0000001"]

[[distributions]]
id = "EBENCH0000001"
domain_name = "bench.cloudfront.localhost"
caller_reference = "bench"
comment = "signed vs unsigned hits"
enabled = true

[[distributions.origins]]
id = "site"
domain_name = "site.edgegate.local"
custom_origin_config = { http_port = 80, https_port = 443, origin_protocol_policy = "http-only" }

[distributions.default_cache_behavior]
target_origin_id = "site"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/signed/*"
target_origin_id = "site"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
trusted_key_groups = ["00000000-0000-4000-8000-00000000be0c"]
TOML

"$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --data-dir "$work/data" > "$work/out.txt" 2> "$work/err.txt" &
pid=$!
for _ in $(seq 100); do grep -q "viewer=" "$work/out.txt" 2>/dev/null && break; sleep 0.1; done
viewer="$(grep -o 'viewer=http://[^ ]*' "$work/out.txt" | cut -d= -f2)"
port="${viewer##*:}"
host="bench.cloudfront.localhost"
unsigned="http://127.0.0.1:$port/obj-1k.txt"
# The canned policy covers the URL as the viewer sends it: Host without a port only if 80.
signed_for_host="$("$bin" sign url --url "http://$host:$port/signed/obj-1k.txt" \
    --key-pair-id KBENCH0000001 --private-key "$root/keys/demo-private.pem" --expires +1h)"
signed="http://127.0.0.1:$port${signed_for_host#http://$host:$port}"
hdr="Host: $host:$port"
for u in "$unsigned" "$signed"; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "$hdr" "$u")"
    [[ "$code" == 200 ]] || { echo "warm-up of $u answered $code" >&2; exit 1; }
    curl -s -o /dev/null -D - -H "$hdr" "$u" | grep -qi 'x-cache: hit' || { echo "no hit for $u" >&2; exit 1; }
done

# CPU time edgegate spends per request (user + system, from /proc), which other load on the
# machine disturbs far less than requests/s.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
run() { # url -> "rps p50 p99 cpu_us_per_request"
    local before after out
    before="$(cpu_ticks)"
    out="$(wrk -t2 -c50 -d"${secs}s" --latency -H "$hdr" "$1")"
    after="$(cpu_ticks)"
    echo "$out" | awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" '
        /requests in/ {n=$1}
        /Requests\/sec/ {rps=$2}
        /^ +50%/ {p50=$2}
        /^ +99%/ {p99=$2}
        END {printf "%s %s %s %.1f\n", rps, p50, p99, (a-b)*1e6/hz/n}'
}
declare -a U S
for r in $(seq "$rounds"); do
    U+=("$(run "$unsigned")")
    S+=("$(run "$signed")")
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
u_rps="$(printf '%s\n' "${U[@]}" | awk '{print $1}' | median)"
s_rps="$(printf '%s\n' "${S[@]}" | awk '{print $1}' | median)"
ratio="$(awk -v s="$s_rps" -v u="$u_rps" 'BEGIN {printf "%.3f", s/u}')"
u_cpu="$(printf '%s\n' "${U[@]}" | awk '{print $4}' | median)"
s_cpu="$(printf '%s\n' "${S[@]}" | awk '{print $4}' | median)"
cpu_ratio="$(awk -v s="$s_cpu" -v u="$u_cpu" 'BEGIN {printf "%.3f", u/s}')"
table="$(cat <<MD

## Signed vs unsigned cache hits ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m))

wrk -t2 -c50 -d${secs}s, HTTP/1.1 keep-alive, 1 KiB object, $rounds interleaved rounds; median requests/s.

| round | unsigned req/s | p50 | p99 | CPU µs/req | signed req/s | p50 | p99 | CPU µs/req |
|---|---|---|---|---|---|---|---|---|
$(for i in "${!U[@]}"; do read -r a b c g <<< "${U[$i]}"; read -r d e f h <<< "${S[$i]}"; echo "| $((i+1)) | $a | $b | $c | $g | $d | $e | $f | $h |"; done)

**signed / unsigned = $ratio** in requests/s (target >= 0.9); by edgegate's CPU time per request
(unsigned / signed, less disturbed by other load on the machine): **$cpu_ratio**.
Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).
MD
)"
echo "$table"
results="$(results_file signed-hits "Signed against unsigned cache hits (benches/signed-hits.sh)")"
echo "$table" >> "$results"
