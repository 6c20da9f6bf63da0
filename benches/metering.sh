#!/usr/bin/env bash
# What metering costs in cache-hit throughput (issue 4, item 9), measured longer and more evenly
# than compare.sh's scenario 7 can afford: many rounds, each on freshly started instances.
#
#   benches/metering.sh [BIN [BIN_B]]
#
#   BIN defaults to target/release/edgegate (built with cargo build --release --locked).
#   ROUNDS= rounds (default 20), SECS= per wrk run (default 2), CYCLES= per round (default 3).
#
# Each round starts three edgegates in front of a local nginx origin: `off` (BIN,
# --metering off), `on` (BIN with metering and logging on, log delivery deferred to shutdown so
# that none falls in a measured window) and a third: `off2` (BIN, --metering off again: the A/A
# control, what the method reads when nothing differs), or, when BIN_B is given, `onB` (BIN_B
# with metering on, to compare what metering costs in two builds within one run). It warms a
# 1 KiB object into each, then runs wrk (-t2 -c50, keep-alive) against them in the order off on
# X X on off (X the third), CYCLES times over, so that the shared cores' drifting load falls on
# all three alike, and stops them. Instances are fresh every round because two identical ones
# can stay a few percent apart for as long as they run (where their threads and memory happened
# to land); over many rounds that averages out. Prints, and appends to the day's
# benches/results/YYYY-MM-DD-metering.md (UTC), each round's ratios to `off` (requests per
# second, and CPU time per request of the whole process), their means with a 95% confidence interval, and their medians; with BIN_B, also onB / on. The
# results name the build by its git description, or by the path of BIN when one is given.
# Needs nginx, wrk and curl (installed with apt-get if missing, as root).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${ROUNDS:-20}" secs="${SECS:-2}" cycles="${CYCLES:-3}"

name=metering
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
need nginx:nginx wrk:wrk curl:curl
bin="$(edgegate_bin "${1:-}")"
bin_b="${2:+$(realpath "$2")}"
third=off2
[[ -n "$bin_b" ]] && third=onB
mkdir -p "$work/site"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
start_origin

labels=(off on "$third")
declare -A extra=([off]="--metering off" [on]="--log-delivery-interval 3600" [off2]="--metering off"
    [onB]="--log-delivery-interval 3600")
declare -A BIN=([off]="$bin" [on]="$bin" [off2]="$bin" [onB]="$bin_b")
declare -A PID PORT
start() { # label round
    local d="$work/$1-$2" line
    mkdir -p "$d"
    # shellcheck disable=SC2086
    "${BIN[$1]}" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --data-dir "$d/data" --cache-size 256MiB ${extra[$1]} > "$d/out.txt" 2> "$d/err.txt" &
    PID[$1]=$!
    pids+=("$!")
    for _ in $(seq 200); do grep -q "viewer=" "$d/out.txt" 2>/dev/null && break; sleep 0.1; done
    line="$(grep -o 'viewer=http://[^ ]*' "$d/out.txt")" || die "$1 did not start (see $d/err.txt)"
    PORT[$1]="${line##*:}"
    local code
    for _ in 1 2 3; do
        code="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:${PORT[$1]}/obj-1k.bin")"
        [[ "$code" == 200 ]] || die "$1 answered $code to a warm-up GET"
    done
}
stop() { # label
    kill -TERM "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A RPS CPU   # sums over a round's runs, per label
run() { # label
    local t0 t1 out rps
    t0="$(ticks "${PID[$1]}")"
    out="$(wrk -t2 -c50 -d"${secs}s" -H "Host: $host" "http://127.0.0.1:${PORT[$1]}/obj-1k.bin" 2>&1)" ||
        die "wrk against $1 failed: $out"
    t1="$(ticks "${PID[$1]}")"
    if grep -q 'Non-2xx' <<< "$out"; then die "wrk against $1 saw non-2xx answers: $out"; fi
    rps="$(awk '/Requests\/sec/ {print $2}' <<< "$out")"
    RPS[$1]="$(awk -v a="${RPS[$1]:-0}" -v b="$rps" 'BEGIN {print a + b}')"
    CPU[$1]="$(awk -v a="${CPU[$1]:-0}" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v s="$secs" \
        'BEGIN {print a + t * 1e6 / hz / (r * s)}')"
}

rows="$work/rows"
started="$(date -u +%FT%RZ)"
for r in $(seq "$rounds"); do
    for l in "${labels[@]}"; do start "$l" "$r"; done
    RPS=() CPU=()
    for _ in $(seq "$cycles"); do
        for l in off on "$third" "$third" on off; do run "$l"; done
    done
    for l in "${labels[@]}"; do stop "$l"; done
    # round, then per label: req/s (mean over its runs), CPU µs per request (mean)
    n=$((2 * cycles))
    printf '%s' "$r" >> "$rows"
    for l in "${labels[@]}"; do
        awk -v a="${RPS[$l]}" -v c="${CPU[$l]}" -v n="$n" 'BEGIN {printf " %.0f %.3f", a / n, c / n}' >> "$rows"
    done
    echo >> "$rows"
    echo "round $r/$rounds: $(tail -n 1 "$rows" | cut -d' ' -f2-)" >&2
done

report="$(python3 - "$rows" "$third" << 'PY'
import math, statistics as st, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
third = sys.argv[2]
off, off_cpu = [r[1] for r in rows], [r[2] for r in rows]
def summary(label, vals):
    n = len(vals)
    m = st.mean(vals)
    half = 1.96 * st.stdev(vals) / math.sqrt(n) if n > 1 else float("nan")
    return f"| {label} | **{m:.3f}** | {m - half:.3f} to {m + half:.3f} | {st.median(vals):.3f} |"
print(f"| round | off req/s | on req/s | {third} req/s | on / off | {third} / off "
      f"| CPU per request on / off | {third} / off |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]:.0f} | {r[1]:.0f} | {r[3]:.0f} | {r[5]:.0f} | {r[3] / r[1]:.3f} | {r[5] / r[1]:.3f} "
          f"| {r[4] / r[2]:.3f} | {r[6] / r[2]:.3f} |")
print()
print("| ratio | mean | 95% confidence interval of the mean | median |")
print("|---|---|---|---|")
name = "A/A control off2 / off" if third == "off2" else "build B's metering on / off"
print(summary("metering on / off, req/s", [r[3] / r[1] for r in rows]))
print(summary(f"{name}, req/s", [r[5] / r[1] for r in rows]))
if third == "onB":
    print(summary("onB / on, req/s", [r[5] / r[3] for r in rows]))
print(summary("metering on / off, CPU per request", [r[4] / r[2] for r in rows]))
print(summary(f"{name}, CPU per request", [r[6] / r[2] for r in rows]))
if third == "onB":
    print(summary("onB / on, CPU per request", [r[6] / r[4] for r in rows]))
PY
)"

section="## Metering on vs off, fresh instances every round (${started}, benches/metering.sh)

edgegate ${1:-$(git -C "$root" describe --always --dirty 2> /dev/null || echo unknown)}${bin_b:+ (onB: $bin_b)}; $(nproc) cores, $(uname -m); load average
at the end $(cut -d' ' -f1-3 /proc/loadavg). $rounds rounds; in each, three fresh instances (off, on, $third)
and wrk -t2 -c50 -d${secs}s against 1 KiB cache hits in the order off on $third $third on off, $cycles times
over. CPU per request counts every thread of the instance.

$report
"
echo "$section"
results="$(results_file metering "Metering on against off (benches/metering.sh)")"
printf '\n%s' "$section" >> "$results"
echo ">> appended to ${results#"$root"/}" >&2
