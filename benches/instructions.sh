#!/usr/bin/env bash
# Instructions per request on edgegate's hot paths, counted by valgrind's callgrind: unlike
# req/s on these shared cores, the count is the same from run to run for the same build, so
# it shows what a change to the request path costs or saves, and the cost ratios behind the
# signed / unsigned and metering on / off targets of compare.sh.
#
#   benches/instructions.sh [BIN]
#
#   BIN defaults to target/release/edgegate (built with cargo build --release --locked).
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
peers="$root/benches/peers"
host="bench.cloudfront.localhost"
n="${N:-4000}"
die() { echo "instructions.sh: $*" >&2; exit 1; }

missing=()
for pair in valgrind:valgrind nginx:nginx h2load:nghttp2-client curl:curl; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    ((EUID == 0)) || die "missing ${missing[*]}: install them first"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ $# -ge 1 ]]; then
    bin="$(realpath "$1")"
else
    (cd "$root" && cargo build --release --locked -q)
    bin="$root/target/release/edgegate"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/edgegate-instructions.XXXXXX")"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

origin_port="$(port)"
user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
render() {
    sed -e "s|@WORK@|$work|g" -e "s|@ROOT@|$root|g" -e "s|@ORIGIN_PORT@|$origin_port|g" \
        -e "s|@HOST@|$host|g" -e "s|@USER_LINE@|$user_line|g" "$1" > "$2"
}
mkdir -p "$work/site/signed" "$work/origin"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
cp "$work/site/obj-1k.bin" "$work/site/signed/obj-1k.bin"
render "$peers/nginx-origin.conf.in" "$work/origin.conf"
render "$peers/edgegate.toml.in" "$work/edgegate.toml"
nginx -p "$work/origin" -e "$work/origin/error.log" -c "$work/origin.conf" &
pids+=("$!")
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$origin_port/obj-1k.bin" && break; sleep 0.1; done

signed="$("$bin" sign url --url "http://$host/signed/obj-1k.bin" --key-pair-id KBENCH0000001 \
    --private-key "$root/keys/demo-private.pem" --expires +2h)"
signed_path="${signed#"http://$host"}"

count() { # name path serve-args... -> instructions per request
    local name="$1" path="$2"
    shift 2
    local p out="$work/$name.cg" pid
    p="$(port)"
    valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no -q \
        "$bin" serve --config "$work/edgegate.toml" --listen "127.0.0.1:$p" \
        --admin-listen 127.0.0.1:0 --data-dir "$work/$name" --workers 1 "$@" \
        > "$work/$name.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    local up=0
    for _ in $(seq 600); do
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p$path" && { up=1; break; }
        sleep 0.2
    done
    ((up)) || die "$name: edgegate did not answer 200 for $path (see $work/$name.out)"
    for _ in 1 2 3; do curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p$path"; done
    callgrind_control -z "$pid" > /dev/null
    local codes
    codes="$(h2load --h1 -n "$n" -c 4 -H ":authority: $host" "http://127.0.0.1:$p$path" |
        awk '/^status codes:/ {print $3}')"
    [[ "$codes" == "$n" ]] || die "$name: $codes of $n requests got a 2xx"
    callgrind_control -d "$pid" > /dev/null
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    # The dump made on request holds the counts since the zeroing; the final one, at exit, the rest.
    local dump total
    dump="$(ls "$out".* 2> /dev/null | head -n 1)"
    [[ -n "$dump" ]] || die "$name: callgrind wrote no dump"
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
