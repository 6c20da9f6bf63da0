#!/usr/bin/env bash
# A/B comparison of two edgegate binaries on the cache-hit path and under churn, interleaved so
# machine drift hits both alike (a narrower companion to compare.sh for optimisation work).
#
#   benches/ab.sh BIN_A BIN_B [hits|churn|all]
#
#   ROUNDS= (default 3), SECS= per wrk run (default 5), CHURN_SECS= (default 30), SIZES= (default
#   "1k 64k 1m"). A_ARGS= and B_ARGS=: more `serve` flags for A or B (split on spaces; for
#   example B_ARGS="--disk-cache DIR"; a DIR of `@` is a fresh directory in the run's temp dir).
#   Needs nginx (the origin) and wrk. Prints per-round req/s / p99, the median ratio B/A per
#   size and the mean ratio with its 95% confidence interval (t over the rounds' log ratios),
#   with the load average at the start and the end; for churn, each binary's peak RSS
#   (VmHWM), end RSS and hit ratio.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
[[ $# -ge 2 ]] || { sed -n '2,10p' "$0"; exit 2; }
bin_a="$(realpath "$1")" bin_b="$(realpath "$2")" what="${3:-all}"
rounds="${ROUNDS:-3}" secs="${SECS:-5}" churn_secs="${CHURN_SECS:-30}"
read -r -a sizes <<< "${SIZES:-1k 64k 1m}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=ab
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
need nginx:nginx wrk:wrk curl:curl
mkdir -p "$work/site/churn"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
head -c 65536 /dev/urandom > "$work/site/obj-64k.bin"
head -c 1048576 /dev/urandom > "$work/site/obj-1m.bin"
head -c 262144 /dev/urandom > "$work/churn.bin"
for i in $(seq 0 1023); do ln "$work/churn.bin" "$work/site/churn/o-$i.bin"; done
start_origin

read -r -a a_args <<< "${A_ARGS:-}"
read -r -a b_args <<< "${B_ARGS:-}"
start() { # name bin cache-size [serve flags...] -> sets PID PORT
    local name="$1" bin="$2" size="$3" extra=() a
    shift 3
    mkdir -p "$work/$name"
    for a in "$@"; do [[ $a == @ ]] && a="$work/$name/disk"; extra+=("$a"); done
    "$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --data-dir "$work/$name/data" --cache-size "$size" "${extra[@]}" \
        > "$work/$name/out.txt" 2> "$work/$name/err.txt" &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 200); do grep -q "viewer=" "$work/$name/out.txt" 2>/dev/null && break; sleep 0.1; done
    local line
    line="$(grep -o 'viewer=http://[^ ]*' "$work/$name/out.txt")" || die "$name did not start"
    PORT="${line##*:}"
}

# Ratios on stdin, one a line -> "M (95% interval L to U)": the geometric mean and a t interval
# over the logs of the ratios.
mean_ci() {
    python3 -c '
import math, statistics, sys
x = [math.log(float(v)) for v in sys.stdin.read().split()]
m = statistics.fmean(x)
if len(x) < 2:
    print(f"{math.exp(m):.3f}")
    sys.exit()
t = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23,
     11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 16: 2.12, 17: 2.11, 18: 2.10, 19: 2.09}
h = t.get(len(x) - 1, 2.0) * statistics.stdev(x) / math.sqrt(len(x))
print(f"{math.exp(m):.3f} (95% interval {math.exp(m - h):.3f} to {math.exp(m + h):.3f})")
'
}

if [[ $what == hits || $what == all ]]; then
    load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
    start a "$bin_a" 256MiB "${a_args[@]}"; pa=$PORT
    start b "$bin_b" 256MiB "${b_args[@]}"; pb=$PORT
    for p in "$pa" "$pb"; do for sz in "${sizes[@]}"; do for _ in 1 2 3; do
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p/obj-$sz.bin"; done; done; done
    echo "| size | round | A req/s | B req/s | B/A | A p99 ms | B p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    declare -A RAT
    for sz in "${sizes[@]}"; do
        for r in $(seq "$rounds"); do
            if ((r % 2)); then ra="$(wrk_run "$pa" "/obj-$sz.bin")"; rb="$(wrk_run "$pb" "/obj-$sz.bin")"
            else rb="$(wrk_run "$pb" "/obj-$sz.bin")"; ra="$(wrk_run "$pa" "/obj-$sz.bin")"; fi
            read -r aq ap <<< "$ra"; read -r bq bp <<< "$rb"
            q="$(awk -v a="$aq" -v b="$bq" 'BEGIN {printf "%.3f", b / a}')"
            RAT[$sz]+="$q"$'\n'
            echo "| $sz | $r | $aq | $bq | $q | $ap | $bp |"
        done
    done
    echo
    for sz in "${sizes[@]}"; do
        echo "median B/A req/s, $sz: $(printf '%s' "${RAT[$sz]}" | median); mean $(printf '%s' "${RAT[$sz]}" | mean_ci) ($rounds rounds)"
    done
    echo "load average: $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
fi

if [[ $what == churn || $what == all ]]; then
    echo
    echo "| churn (${churn_secs}s, 64MiB cache, 1024 x 256 KiB) | requests | req/s | peak RSS MiB | end RSS MiB | hit ratio |"
    echo "|---|---|---|---|---|---|"
    for name in a b; do
        bin="$bin_a"; [[ $name == b ]] && bin="$bin_b"
        if [[ $name == a ]]; then start "churn-$name" "$bin" 64MiB "${a_args[@]}"
        else start "churn-$name" "$bin" 64MiB "${b_args[@]}"; fi
        before="$(grep -c /churn/ "$work/origin/access.log" || true)"
        out="$(wrk -t2 -c50 -d"${churn_secs}s" -H "Host: $host" -s "$peers/random-path.lua" \
            "http://127.0.0.1:$PORT/" -- 1024 2>&1)"
        reqs="$(awk '/requests in/ {print $1}' <<< "$out")"
        rps="$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<< "$out")"
        misses=$(($(grep -c /churn/ "$work/origin/access.log" || true) - before))
        hwm="$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status")"
        rss="$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status")"
        hit="$(awk -v m="$misses" -v n="$reqs" 'BEGIN {printf "%.3f", 1 - m / n}')"
        echo "| $name | $reqs | $rps | $hwm | $rss | $hit |"
        kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
    done
fi
