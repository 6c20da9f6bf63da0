#!/usr/bin/env bash
# Edge compression and range requests (issue 21), side by side in one run:
#
#   (1) compressed cache hits of a 100 KiB JavaScript file (`Accept-Encoding: br, gzip`) against
#       uncompressed hits of the same object on the same edgegate;
#   (2) the same compressed hits against nginx serving precompressed files (`gzip_static` and
#       `brotli_static`, as its documentation advises) and against nginx `proxy_cache` with
#       `gzip on` (compressing on every hit); gzip-only hits on both for a like-for-like ratio;
#   (3) time to first byte of a range request for the last MiB of a cold 1 GiB object, through
#       edgegate (too large for its default cache: passed through; and with a cache that holds
#       it: answered while the whole object is filled behind it) against the origin directly,
#       then the same range once filled (a hit).
#
#   benches/caching.sh [BIN]
#
#   ROUNDS= (default 3), SECS= per wrk run (default 5), TTFB_N= cold range requests per system
#   (default 4; the edgegate that fills them holds TTFB_N GiB in memory). BIN is the edgegate binary (default: a release build of this repository).
#   Needs nginx, its brotli_static module, brotli, wrk and curl (installed when missing, as
#   root). Prints markdown tables and appends them to benches/results/YYYY-MM-DD-caching.md.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,21p' "$0"; exit 0; }
rounds="${ROUNDS:-3}" secs="${SECS:-5}" ttfb_n="${TTFB_N:-4}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=caching
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
need nginx:nginx wrk:wrk curl:curl brotli:brotli
brotli_mod=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
if [[ ! -e $brotli_mod ]]; then
    ((EUID == 0)) || die "missing libnginx-mod-http-brotli-static: install it first"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-http-brotli-static >/dev/null
fi
bin="$(edgegate_bin "${1:-}")"

# The site: a 100 KiB script, its precompressed variants for nginx (gzip 6 and Brotli 5, the
# levels edgegate uses), and hard links to one sparse 1 GiB file, one per cold range request.
mkdir -p "$work/site/z" "$work/site/big"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
python3 - "$work/site/z/app.js" <<'EOF'
import sys
lines, i = [], 0
while sum(map(len, lines)) < 100 * 1024:
    lines.append(f"function f{i}(a, b) {{ return a * {i * 7919 % 1000} + b - {i % 13}; }}\n")
    i += 1
open(sys.argv[1], "w").write("".join(lines))
EOF
gzip -6 -k "$work/site/z/app.js"
brotli -q 5 -k "$work/site/z/app.js"
truncate -s 1G "$work/big-1g.bin"
for i in $(seq 0 $((3 * ttfb_n))); do ln "$work/big-1g.bin" "$work/site/big/b-$i.bin"; done
start_origin
# edgegate's config: the bench distribution with compression on its default behavior.
sed 's|^cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"$|&\ncompress = true|' \
    "$work/edgegate.toml" > "$work/edgegate-z.toml"
grep -q '^compress = true' "$work/edgegate-z.toml" || die "could not turn compression on"

start_edgegate() { # name cache-size [flags...] -> sets PID PORT
    local name="$1" size="$2" line
    shift 2
    mkdir -p "$work/$name"
    "$bin" serve --config "$work/edgegate-z.toml" --listen 127.0.0.1:0 \
        --admin-listen 127.0.0.1:0 --data-dir "$work/$name/data" --cache-size "$size" "$@" \
        > "$work/$name/out.txt" 2> "$work/$name/err.txt" &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 200); do grep -q "viewer=" "$work/$name/out.txt" 2>/dev/null && break; sleep 0.1; done
    line="$(grep -o 'viewer=http://[^ ]*' "$work/$name/out.txt")" || die "edgegate $name did not start"
    PORT="${line##*:}"
}
start_nginx() { # name http-level-extra server-body -> sets PORT
    local dir="$work/$1"
    mkdir -p "$dir"
    PORT="$(port)"
    cat > "$dir/nginx.conf" <<EOF
$user_line
load_module $brotli_mod;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    types { application/javascript js; }
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
$2
    server {
        listen 127.0.0.1:$PORT reuseport;
$3
    }
}
EOF
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
    pids+=("$!")
    for _ in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$PORT/z/app.js" && return 0
        sleep 0.1
    done
    die "nginx $1 did not start: see $dir/error.log"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
# The encoding and size a system answers with.
answer() { # port accept-encoding
    curl -s -o /dev/null -w '%{size_download} %header{content-encoding}' -H "Host: $host" \
        -H "Accept-Encoding: $2" "http://127.0.0.1:$1/z/app.js"
}

out="$work/report.md"
{
    echo "## caching.sh, $(date -u '+%F %H:%M') UTC"
    echo
    echo "$(nproc) cores, $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg);" \
        "edgegate $("$bin" --version 2>/dev/null | head -1), $(nginx -v 2>&1 | sed 's/.*: //');" \
        "ROUNDS=$rounds SECS=$secs TTFB_N=$ttfb_n"
    echo
} > "$out"

# --- (1) and (2): compressed hits ---
start_edgegate edge 512MiB; pe=$PORT; edge_pid=$PID
start_nginx static "" "        root $work/site;
        location /z/ { gzip_static on; brotli_static on; }"; ps=$PORT
start_nginx proxy "    proxy_cache_path $work/proxy/cache keys_zone=edge:8m;" "        location / {
            proxy_pass http://127.0.0.1:$origin_port;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_cache edge;
            proxy_cache_valid 200 1h;
            gzip on;
            gzip_comp_level 6;
            gzip_types application/javascript;
            gzip_proxied any;
            gzip_vary on;
        }"; pp=$PORT
for p in "$pe" "$ps" "$pp"; do for ae in "br, gzip" gzip ""; do for _ in 1 2; do
    curl -sf -o /dev/null -H "Host: $host" -H "Accept-Encoding: $ae" "http://127.0.0.1:$p/z/app.js"
done; done; done
{
    echo "### (1, 2) hits of a 100 KiB script (wrk -t2 -c50, ${secs} s per run)"
    echo
    echo "What each answers: edgegate br,gzip: $(answer "$pe" "br, gzip"); gzip: $(answer "$pe" gzip);" \
        "identity: $(answer "$pe" identity) · nginx static br,gzip: $(answer "$ps" "br, gzip");" \
        "gzip: $(answer "$ps" gzip) · nginx proxy_cache+gzip: $(answer "$pp" gzip) (bytes, encoding)"
    echo
    echo "| round | edgegate br,gzip | edgegate identity | edgegate gzip | nginx static br,gzip | nginx static gzip | nginx proxy_cache gzip on |"
    echo "|---|---|---|---|---|---|---|"
} >> "$out"
declare -A R
runs=("$pe|br, gzip|e_br" "$pe||e_id" "$pe|gzip|e_gz" "$ps|br, gzip|s_br" "$ps|gzip|s_gz" "$pp|gzip|p_gz")
for r in $(seq "$rounds"); do
    row="| $r"
    order=("${runs[@]}")
    ((r % 2)) || mapfile -t order < <(printf '%s\n' "${runs[@]}" | tac)
    declare -A this=()
    for run in "${order[@]}"; do
        IFS='|' read -r p ae key <<< "$run"
        hdr=()
        [[ -n $ae ]] && hdr=("Accept-Encoding: $ae")
        read -r q p99 <<< "$(wrk_run "$p" /z/app.js "${hdr[@]}")"
        this[$key]="$q"
        R[$key]+="$q"$'\n'
    done
    for run in "${runs[@]}"; do row+=" | ${this[${run##*|}]}"; done
    echo "$row |" >> "$out"
    R[id_ratio]+="$(ratio "${this[e_br]}" "${this[e_id]}")"$'\n'
    R[s_ratio]+="$(ratio "${this[e_br]}" "${this[s_br]}")"$'\n'
    R[gz_ratio]+="$(ratio "${this[e_gz]}" "${this[s_gz]}")"$'\n'
    R[p_ratio]+="$(ratio "${this[e_gz]}" "${this[p_gz]}")"$'\n'
done
{
    echo
    echo "Medians over rounds (each ratio is taken within a round):"
    echo
    echo "- edgegate compressed (br) / uncompressed hits, req/s: **$(printf '%s' "${R[id_ratio]}" | median)**"
    echo "- edgegate / nginx gzip_static+brotli_static, br: **$(printf '%s' "${R[s_ratio]}" | median)**; gzip: **$(printf '%s' "${R[gz_ratio]}" | median)**"
    echo "- edgegate / nginx proxy_cache with gzip on, gzip: **$(printf '%s' "${R[p_ratio]}" | median)**"
    echo
} >> "$out"
kill -TERM "$edge_pid"; wait "$edge_pid" 2>/dev/null || true

# --- (3): time to first byte of the last MiB of a cold 1 GiB object ---
last="bytes=1072693248-1073741823"
ttfb() { # port path -> seconds to the first byte (and checks the 206)
    local res
    res="$(curl -s -o /dev/null -w '%{http_code} %{time_starttransfer} %header{x-cache}' \
        -H "Host: $host" -H "Range: $last" "http://127.0.0.1:$1$2")"
    [[ $res == 206\ * ]] || die "expected 206 for $2 on port $1, got: $res"
    awk '{printf "%.2f\n", $2 * 1000}' <<< "$res"
}
start_edgegate small 512MiB; psmall=$PORT
# Without sendfile mirrors, so that each 1 GiB object is held once.
start_edgegate large 10GiB --sendfile off; plarge=$PORT; large_pid=$PID
declare -A T
i=0
for n in $(seq "$ttfb_n"); do
    T[origin]+="$(ttfb "$origin_port" "/big/b-$i.bin")"$'\n'
    T[pass]+="$(ttfb "$psmall" "/big/b-$((i + 1)).bin")"$'\n'
    T[fill]+="$(ttfb "$plarge" "/big/b-$((i + 2)).bin")"$'\n'
    # Waits for the fill behind the range (a whole-object request collapses onto it), so that
    # the next measurements do not share the cores with it.
    curl -s -o /dev/null -H "Host: $host" "http://127.0.0.1:$plarge/big/b-$((i + 2)).bin"
    i=$((i + 3))
done
for _ in $(seq "$ttfb_n"); do T[hit]+="$(ttfb "$plarge" "/big/b-$((i - 1)).bin")"$'\n'; done
hwm="$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$large_pid/status")"
{
    echo "### (3) time to first byte, last MiB of a cold 1 GiB object (median of $ttfb_n, ms)"
    echo
    echo "| origin (nginx) directly | edgegate, 512 MiB cache (passed through) | edgegate, 10 GiB cache, no mirrors (filled behind the range) | edgegate, the same range once filled (hit) |"
    echo "|---|---|---|---|"
    echo "| $(printf '%s' "${T[origin]}" | median) | $(printf '%s' "${T[pass]}" | median) | $(printf '%s' "${T[fill]}" | median) | $(printf '%s' "${T[hit]}" | median) |"
    echo
    echo "Peak RSS of the 10 GiB-cache edgegate after $ttfb_n background fills of 1 GiB: $hwm MiB."
    echo
} >> "$out"
cat "$out"
cat "$out" >> "$(results_file caching "Edge compression and range requests (benches/caching.sh)")"
