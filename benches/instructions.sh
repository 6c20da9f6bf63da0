#!/usr/bin/env bash
# Instructions per request on edgegate's hot paths, counted by valgrind's callgrind: unlike
# req/s on these shared cores, the count of a build moves by only a few tenths of a percent
# from run to run (timers, how the 4 connections interleave), so it shows what a change to the
# request path costs or saves, and the cost ratios behind the signed / unsigned and metering
# on / off targets of compare.sh.
#
#   benches/instructions.sh [BIN]
#
#   BIN defaults to target/release/edgegate (built with cargo build --release --locked).
#   ARGS= more `serve` flags for every case (split on spaces; a DIR of `@` in them is a fresh
#   directory per case, e.g. ARGS="--disk-cache @").
#   N= requests per case (default 4000). Each case starts a fresh edgegate under callgrind with
#   one worker thread in front of a local nginx origin, warms the object into the cache, zeroes
#   the counters, sends N keep-alive GETs over 4 connections with h2load, and divides the
#   instructions of every thread of the process (workers, journal writer, fsync) by N.
#
# Cases: 1 KiB hits with metering off, 1 KiB hits with metering on (log delivery deferred to
# shutdown, outside the count), and signed 1 KiB hits (canned policy, metering off). Needs
# valgrind, nginx, h2load (nghttp2-client) and curl; installs the missing ones with apt-get.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${N:-4000}"

name=instructions
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
need valgrind:valgrind nginx:nginx h2load:nghttp2-client curl:curl
bin="$(edgegate_bin "${1:-}")"
mkdir -p "$work/site/signed"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
cp "$work/site/obj-1k.bin" "$work/site/signed/obj-1k.bin"
start_origin

signed="$("$bin" sign url --url "http://$host/signed/obj-1k.bin" --key-pair-id KBENCH0000001 \
    --private-key "$root/keys/demo-private.pem" --expires +2h)"
signed_path="${signed#"http://$host"}"

count() { # label path serve-args... -> instructions per request
    local label="$1" path="$2"
    shift 2
    local p out="$work/$label.cg" pid a extra=() more=()
    read -r -a more <<< "${ARGS:-}"
    for a in "${more[@]}"; do [[ $a == @ ]] && a="$work/$label.disk"; extra+=("$a"); done
    p="$(port)"
    valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no -q \
        "$bin" serve --config "$work/edgegate.toml" --listen "127.0.0.1:$p" \
        --admin-listen 127.0.0.1:0 --data-dir "$work/$label" --workers 1 "$@" "${extra[@]}" \
        > "$work/$label.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    local up=0
    for _ in $(seq 600); do
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p$path" && { up=1; break; }
        sleep 0.2
    done
    ((up)) || die "$label: edgegate did not answer 200 for $path (see $work/$label.out)"
    for _ in 1 2 3; do curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p$path"; done
    callgrind_control -z "$pid" > /dev/null 2>&1
    local codes
    codes="$(h2load --h1 -n "$n" -c 4 -H ":authority: $host" "http://127.0.0.1:$p$path" |
        awk '/^status codes:/ {print $3}')"
    [[ "$codes" == "$n" ]] || die "$label: $codes of $n requests got a 2xx"
    callgrind_control -d "$pid" > /dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    # The dump made on request holds the counts since the zeroing; the final one, at exit, the rest.
    local dump total
    dump="$(ls "$out".* 2> /dev/null | head -n 1)"
    [[ -n "$dump" ]] || die "$label: callgrind wrote no dump"
    total="$(awk '/^summary:/ {print $2}' "$dump")"
    echo $((total / n))
}

off="$(count off /obj-1k.bin --metering off)"
on="$(count on /obj-1k.bin --log-delivery-interval 3600)"
sig="$(count signed "$signed_path" --metering off)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

echo "## Instructions per request (callgrind, $n keep-alive 1 KiB GETs, one worker; $(date -u +%FT%RZ))"
echo
echo "edgegate $(git -C "$root" describe --always --dirty 2> /dev/null || echo unknown)"
echo
echo "| case | instructions per request | ratio |"
echo "|---|---|---|"
echo "| cache hit, metering off | $off | 1 |"
echo "| cache hit, metering on | $on | $(ratio "$on" "$off") (on / off) |"
echo "| signed cache hit (canned policy), metering off | $sig | $(ratio "$sig" "$off") (signed / unsigned) |"
