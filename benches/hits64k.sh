#!/usr/bin/env bash
# Memory-tier cache hits over plain HTTP/1.1 against nginx proxy_cache (set up as in compare.sh,
# cache on tmpfs), with edgegate's `sendfile` on and off: a quick companion to compare.sh's
# 64 KiB row (issue 25: "memory-tier hits, 64 KiB, at least nginx's rate").
#
#   benches/hits64k.sh [BIN]
#
#   ROUNDS= (3), SECS= per wrk run (5), OBJ= (64k; or 1k). Needs nginx and wrk. The three
#   systems are measured in a rotating order each round (wrk -t2 -c50, keep-alive); prints
#   req/s and p99 per system and round, the ratios to nginx in the same round, and the load
#   average at the start and the end. Set PERF=1 to also sample the sendfile-on edgegate with
#   `perf record -g` for 4 s (written to $work/perf.data; the path is printed).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=hits64k
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
need nginx:nginx wrk:wrk curl:curl
bin="$(edgegate_bin "${1:-}")"
rounds="${ROUNDS:-3}" secs="${SECS:-5}" obj="${OBJ:-64k}"
if [[ -d /dev/shm && -w /dev/shm ]]; then cache_dir="$(mktemp -d /dev/shm/edgegate-hits64k.XXXXXX)"
else cache_dir="$work/nginx-cache"; fi
trap 'cleanup; rm -rf "$cache_dir"' EXIT
mkdir -p "$work/site" "$work/nginx"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
head -c 65536 /dev/urandom > "$work/site/obj-64k.bin"
start_origin
np="$(port)" nh="$(port)"
render "$peers/nginx-cache.conf.in" "$work/nginx.conf.tmp"
sed -e "s|@CACHE_DIR@|$cache_dir|g" -e "s|@NGINX_PORT@|$np|g" -e "s|@NGINX_H2_PORT@|$nh|g" \
    "$work/nginx.conf.tmp" > "$work/nginx.conf"
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx.conf" 2> /dev/null &
pids+=("$!")
declare -A P=([nginx]="$np")
start() { # system name serve-flags... -> sets P[system] (not in a subshell: pids must see it)
    local s="$1" n="$2"
    shift 2
    mkdir -p "$work/$n"
    "$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --data-dir "$work/$n/data" --cache-size 256MiB "$@" > "$work/$n/out" 2>&1 &
    pids+=("$!")
    for _ in $(seq 200); do grep -q "viewer=" "$work/$n/out" 2> /dev/null && break; sleep 0.1; done
    P[$s]="$(grep -o 'viewer=http://[^ ]*' "$work/$n/out" | sed 's/.*://')" || die "edgegate ($n) did not start"
}
start sendfile-on on
start sendfile-off off --sendfile off
for s in nginx sendfile-on sendfile-off; do
    for i in $(seq 50); do
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:${P[$s]}/obj-$obj.bin" && break
        ((i < 50)) || die "$s does not answer"
        sleep 0.1
    done
    curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:${P[$s]}/obj-$obj.bin"
done
echo "$obj hits over HTTP/1.1, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo
echo "| round | nginx req/s, p99 ms | edgegate sendfile on | sendfile off | on / nginx | off / nginx |"
echo "|---|---|---|---|---|---|"
order=(nginx sendfile-on sendfile-off)
for r in $(seq "$rounds"); do
    declare -A R=()
    for s in "${order[@]}"; do R[$s]="$(wrk_run "${P[$s]}" "/obj-$obj.bin")"; done
    order=("${order[@]:1}" "${order[0]}")
    q() { awk -v a="${R[$1]% *}" -v n="${R[nginx]% *}" 'BEGIN {printf "%.3f", a / n}'; }
    echo "| $r | ${R[nginx]} | ${R[sendfile-on]} | ${R[sendfile-off]} | $(q sendfile-on) | $(q sendfile-off) |"
done
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
if [[ -n "${PERF:-}" ]]; then
    epid="$(pgrep -f -- "--data-dir $work/on/data" | head -n 1)"
    perf record -g -o "$work/perf.data" -p "$epid" -- sleep 4 > /dev/null 2>&1 &
    pp=$!
    wrk_run "${P[sendfile-on]}" "/obj-$obj.bin" > /dev/null
    wait "$pp" || true
    cp "$work/perf.data" "${TMPDIR:-/tmp}/hits64k-perf.data"
    echo "perf samples: ${TMPDIR:-/tmp}/hits64k-perf.data"
fi
