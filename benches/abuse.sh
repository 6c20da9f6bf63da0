#!/usr/bin/env bash
# Attacks on loopback, side by side against edgegate and nginx (a caching proxy set up as
# benches/peers/nginx-cache.conf.in), in front of the same static nginx origin. A first version
# of issue 26's item 6 with two scenarios:
#
#   burst  BURST new connections at once (default 1000), one cache hit each: success rate and
#          latency from connect to the last byte (p50, p99, max) as each viewer sees it, from a
#          Python client; then the same burst from h2load (a C client, so the client is not
#          what is measured), ROUNDS times (default 3) alternating the servers: how long the
#          whole burst took, and the time to first byte (mean, max);
#   idle   IDLE connections that never send a byte (default 2000), then well-behaved viewers for
#          SECS seconds (default 5): their success rate and latency beside the unloaded baseline,
#          and how many of the idle connections each server has closed HEADER_TIMEOUT + 2 seconds
#          after they opened (both servers get a header timeout of HEADER_TIMEOUT, default 5);
#   slowloris  LORIS connections (default 1000) dribbling a request head, a byte a second;
#   slowbody   SLOWBODY uploads (default 500) announcing 1 MB and sending a byte a second, to a
#              behavior that takes POST (edgegate: all methods, CachingDisabled);
#   slowread   SLOWREAD viewers (default 200) asking for an 8 MiB cached object and never reading;
#   rapidreset RESETTERS HTTP/2 connections (default 4, h2c) opening and cancelling streams as
#              fast as the server takes them (CVE-2023-44487);
#          each of the last four for SECS seconds of well-behaved viewers during the attack,
#          reported beside an unloaded `good` baseline measured just before it: whether they
#          kept >= 99 % success and a p99 within 2 x the baseline's ("held").
#
#   benches/abuse.sh [BIN]      (BIN: the edgegate binary; default: a release build of this tree)
#
# Bounded in count and time (about four minutes in all); targets 127.0.0.1 only; stops everything it
# started. Appends its figures to benches/results/YYYY-MM-DD-abuse.md. Needs nginx and python3.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
burst="${BURST:-1000}" rounds="${ROUNDS:-3}" idle="${IDLE:-2000}" secs="${SECS:-5}" ht="${HEADER_TIMEOUT:-5}"
loris="${LORIS:-1000}" slowbody="${SLOWBODY:-500}" slowread="${SLOWREAD:-200}" resetters="${RESETTERS:-4}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=abuse
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
need nginx:nginx-light curl:curl python3:python3 h2load:nghttp2-client
bin="$(edgegate_bin "${1:-}")"
mkdir -p "$work/site"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
head -c 8388608 /dev/urandom > "$work/site/obj-8m.bin"
start_origin
# A behavior that takes uploads, for the slow-body attack.
cat >> "$work/edgegate.toml" <<'TOML'

[[distributions.cache_behaviors]]
path_pattern = "/upload/*"
target_origin_id = "origin"
viewer_protocol_policy = "allow-all"
cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
allowed_methods = { items = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"], cached_methods = ["GET", "HEAD"] }
TOML
ulimit -n "$(ulimit -Hn)"

wait_up() { # port
    local _
    for _ in $(seq 100); do
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$1/obj-1k.bin" && return 0
        sleep 0.1
    done
    return 1
}

# edgegate, with the same header timeout as nginx below.
mkdir -p "$work/edgegate"
"$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --data-dir "$work/edgegate/data" --header-timeout "$ht" \
    > "$work/edgegate/out.txt" 2> "$work/edgegate/err.txt" &
eg_pid=$!
pids+=("$eg_pid")
for _ in $(seq 200); do grep -q "viewer=" "$work/edgegate/out.txt" 2>/dev/null && break; sleep 0.1; done
line="$(grep -o 'viewer=http://[^ ]*' "$work/edgegate/out.txt")" || die "edgegate did not start"
eg_port="${line##*:}"
wait_up "$eg_port" || die "edgegate does not answer"

# nginx as a caching proxy, with client_header_timeout and keepalive_timeout set alike.
nginx_port="$(port)"
nginx_h2_port="$(port)"
mkdir -p "$work/nginx" "$work/nginx-cache"
render "$peers/nginx-cache.conf.in" "$work/nginx.conf.in"
sed -e "s|@CACHE_DIR@|$work/nginx-cache|" -e "s|@NGINX_PORT@|$nginx_port|" \
    -e "s|@NGINX_H2_PORT@|$nginx_h2_port|" \
    -e "s|keepalive_timeout 120s;|keepalive_timeout 60s; client_header_timeout ${ht}s;|" \
    "$work/nginx.conf.in" > "$work/nginx.conf"
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx.conf" &
ng_pid=$!
pids+=("$ng_pid")
wait_up "$nginx_port" || die "nginx does not answer: see $work/nginx/error.log"

# Both caches warm.
for p in "$eg_port" "$nginx_port"; do
    for _ in 1 2 3; do
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p/obj-1k.bin"
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p/obj-8m.bin"
    done
done

run() { # server port scenario args...
    local server="$1" port="$2" pidlist
    shift 2
    if [[ $server == nginx ]]; then
        pidlist="$(pgrep -d, -P "$ng_pid" || true),$ng_pid"
    else
        pidlist="$eg_pid"
    fi
    PIDS="$pidlist" python3 "$root/benches/abuse.py" "$1" "$port" "$host" /obj-1k.bin "${@:2}" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); d["server"]=sys.argv[1]; print(json.dumps(d))' "$server"
}

results=()
for s in edgegate nginx; do
    p="$eg_port"
    [[ $s == nginx ]] && p="$nginx_port"
    results+=("$(run "$s" "$p" good "$secs")")
    results+=("$(run "$s" "$p" burst "$burst")")
    results+=("$(run "$s" "$p" idle "$idle" "$secs" "$((ht + 2))")")
    sleep 1
    # Each attack right after a baseline of its own, so that the shared cores' drifting load
    # weighs on both alike.
    results+=("$(run "$s" "$p" good "$secs")")
    results+=("$(run "$s" "$p" slowloris "$loris" "$secs")")
    sleep 1
    results+=("$(run "$s" "$p" good "$secs")")
    results+=("$(run "$s" "$p" slowbody "$slowbody" "$secs" /upload/x)")
    sleep 1
    results+=("$(run "$s" "$p" good "$secs")")
    results+=("$(run "$s" "$p" slowread "$slowread" "$secs" /obj-8m.bin)")
    sleep 1
    hp="$p"
    [[ $s == nginx ]] && hp="$nginx_port/$nginx_h2_port"
    results+=("$(run "$s" "$p" good "$secs")")
    results+=("$(run "$s" "$hp" rapidreset "$resetters" "$secs")")
    sleep 1
done

h2burst() { # server port -> one table row
    local out
    out="$(h2load --h1 -c "$burst" -n "$burst" -t 1 -H ":authority: $host" \
        "http://127.0.0.1:$2/obj-1k.bin" 2>&1)" || true
    awk -v s="$1" '
        /^finished in/ {took = $3; sub(/,$/, "", took)}
        /^requests:/ {ok = $8}
        /^time for connect:/ {cmean = $6}
        /^time to 1st byte:/ {tmean = $7; tmax = $6}
        END {printf "| %s | %s | %s | %s | %s | %s |\n", s, ok, took, cmean, tmean, tmax}' <<< "$out"
}
bursts=()
for _ in $(seq "$rounds"); do
    bursts+=("$(h2burst edgegate "$eg_port")")
    bursts+=("$(h2burst nginx "$nginx_port")")
done
burst_table="$(printf '| server | succeeded | burst took | connect mean | 1st byte mean | 1st byte max |\n|---|---|---|---|---|---|\n'; printf '%s\n' "${bursts[@]}")"

table="$(printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
base = {}
print("| scenario | server | requests | ok % | p50 ms | p99 ms | max ms | held | attack | closed by server | RSS MiB | CPU s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["scenario"] == "good":
        # The baseline of the attack that follows it.
        base[r["server"]] = r["p99_ms"]
    closed = next((v for k, v in r.items() if k.startswith("idle_closed")), "")
    attack = ""
    if "idle_opened" in r:
        attack = "{} silent".format(r["idle_opened"])
    elif "streams_reset" in r:
        attack = "{} streams reset on {} conn., {} GOAWAY".format(
            r["streams_reset"], r["attack_connections"], r["goaways"])
    elif "attackers" in r:
        attack = "{} conn. ({} refused)".format(r["attackers"], r["attackers_refused"])
        closed = r["attackers_closed"] if r["scenario"] != "slowread" else "n/a"
    held = ""
    if r["scenario"] not in ("good", "burst") and base.get(r["server"]) and r["p99_ms"] is not None:
        ok = r["ok_pct"] >= 99.0 and r["p99_ms"] <= 2 * base[r["server"]]
        held = "yes" if ok else "no"
    print("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["scenario"], r["server"], r["requests"], r["ok_pct"], r["p50_ms"], r["p99_ms"],
        r["max_ms"], held, attack, closed, r["server_rss_mib"], r["server_cpu_s"]))
')"
echo "$table"
echo
echo "$burst_table"
file="$(results_file abuse "Abuse scenarios: edgegate beside nginx")"
{
    echo
    echo "## $(date -u +%FT%TZ) on $(nproc) cores, $(uname -r)"
    echo
    echo "edgegate $("$bin" --version | awk '{print $2}') ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)), $(nginx -v 2>&1 | sed 's/.*: //');"
    echo "burst $burst connections; idle flood $idle silent connections, ${secs} s of well-behaved"
    echo "viewers during it, header timeout ${ht} s on both, idle closed counted after $((ht + 2)) s."
    echo "slowloris $loris, slow body $slowbody, slow read $slowread (8 MiB object), rapid reset on"
    echo "$resetters h2c connections, each during ${secs} s of well-behaved viewers; \`held\`: >= 99 % ok and p99"
    echo "within 2 x the p99 of the \`good\` run just before it. RSS is measured at the end of each scenario."
    echo "\`good\` is the unloaded baseline. Latency is from connect to the last byte."
    echo
    echo "$table"
    echo
    echo "The same burst of $burst connections from h2load (\`--h1 -c $burst -n $burst -t 1\`), $rounds rounds:"
    echo
    echo "$burst_table"
} >> "$file"
echo "appended to ${file#"$root"/}"
