#!/usr/bin/env bash
# edgegate beside Varnish and nginx proxy_cache, all in front of the same static origin, in one
# run (issue 5). Every system runs on 127.0.0.1 on free ports, as the current user, from a temp
# dir; measurements interleave the systems round by round so machine drift hits all alike, and
# each figure is the median of the rounds.
#
#   benches/compare.sh [--quick]
#
#   default: 3 rounds x 10 s per wrk run, 60 s churn (about 20 minutes on 2 cores)
#   --quick: 1 round  x  5 s per wrk run, 20 s churn (about 4 minutes)
#   ROUNDS=, SECS=, CHURN_SECS= in the environment override either; ABBA= sets how many times
#   the paired scenarios (signed / unsigned, metering on / off) alternate A B B A per round (5);
#   METER_ROUNDS= how many rounds scenario 7 runs, each on freshly started instances (2 x ROUNDS).
#   Then runs benches/tls.sh (HTTPS HTTP/1.1 and HTTP/2 hits) with the same rounds, run length
#   and binary, unless TLS=0.
#
# Scenarios: (1) cache hits 1 KiB / 64 KiB / 1 MiB over HTTP/1.1 (wrk), also against a second
# edgegate with one event-loop thread (`--workers 1`, informational: the load generator shares
# the two cores), and 1 KiB over h2c (h2load); (2) signed vs unsigned hits on edgegate; (3) latency added on the miss path over
# going to the origin directly; (4) collapsing of 200 concurrent requests for one cold object;
# (5) one 1 GiB object through edgegate's miss path (TTFB, throughput, peak RSS); (6) churn over
# a working set of 4 x --cache-size (peak RSS, hit ratio); (7) metering on vs off, when
# `edgegate serve --help` lists --metering, beside the same comparison between two identical
# instances with metering off (an A/A control: what the method reads when nothing differs).
#
# Prints one markdown table per scenario plus a summary, and appends them (with the machine and
# the load it saw) to benches/results/YYYY-MM-DD-compare.md (the day's file, UTC). Needs nginx,
# varnish, wrk, nghttp2-client (h2load) and curl; installs the missing ones with apt-get (as
# root, or through sudo).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
if ((quick)); then
    rounds="${ROUNDS:-1}" secs="${SECS:-5}" churn_secs="${CHURN_SECS:-20}" miss_n=40
else
    rounds="${ROUNDS:-3}" secs="${SECS:-10}" churn_secs="${CHURN_SECS:-60}" miss_n=100
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
peers="$root/benches/peers"
cd "$root"

die() { echo "compare.sh: $*" >&2; exit 1; }
log() { echo ">> $*" >&2; }

# ---------------------------------------------------------------- tools and build
missing=()
for pair in nginx:nginx varnishd:varnish wrk:wrk h2load:nghttp2-client curl:curl; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "missing ${missing[*]} and not root (no sudo): install them first"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
log "building edgegate (cargo build --release --locked)"
cargo build --release --locked -q
bin="$root/target/release/edgegate"

# ---------------------------------------------------------------- temp dir, processes, cleanup
work="$(mktemp -d "${TMPDIR:-/tmp}/edgegate-compare.XXXXXX")"
# nginx's cache goes to tmpfs when there is one, so all three caches are in RAM.
if [[ -d /dev/shm && -w /dev/shm ]]; then
    cache_dir="$(mktemp -d /dev/shm/edgegate-compare-nginx.XXXXXX)"
else
    cache_dir="$work/nginx-cache"
fi
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work" "$cache_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

used_ports=" "
# Sets REPLY to a loopback port nothing listens on (and that this script has not handed out).
free_port() {
    local p
    for _ in $(seq 500); do
        p=$((20000 + RANDOM % 40000))
        [[ "$used_ports" == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            used_ports+="$p "
            REPLY="$p"
            return
        fi
    done
    die "found no free loopback port"
}

free_port; origin_port=$REPLY
free_port; nginx_port=$REPLY
free_port; nginx_h2_port=$REPLY
free_port; varnish_port=$REPLY
host="bench.cloudfront.localhost"
user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"

render() { # template -> output
    sed -e "s|@WORK@|$work|g" -e "s|@CACHE_DIR@|$cache_dir|g" -e "s|@ROOT@|$root|g" \
        -e "s|@ORIGIN_PORT@|$origin_port|g" -e "s|@NGINX_PORT@|$nginx_port|g" \
        -e "s|@NGINX_H2_PORT@|$nginx_h2_port|g" -e "s|@HOST@|$host|g" \
        -e "s|@USER_LINE@|$user_line|g" "$1" > "$2"
}

# Waits until URL answers (any HTTP status); dies with LOGFILE's tail if PID exits first.
wait_up() { # name pid url logfile...
    local name="$1" pid="$2" url="$3"
    shift 3
    for _ in $(seq 200); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "compare.sh: $name exited during startup; its log:" >&2
            tail -n 40 "$@" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    echo "compare.sh: $name did not answer $url within 20 s; its log:" >&2
    tail -n 40 "$@" >&2 || true
    exit 1
}

start_nginx() { # name template port
    local name="$1" conf="$work/$1.conf"
    mkdir -p "$work/$name"
    render "$2" "$conf"
    if ! nginx -t -q -p "$work/$name" -e "$work/$name/error.log" -c "$conf" 2> "$work/$name/stderr"; then
        echo "compare.sh: nginx ($name) rejected its config:" >&2
        cat "$work/$name/stderr" "$work/$name/error.log" >&2 2>/dev/null || true
        exit 1
    fi
    nginx -p "$work/$name" -e "$work/$name/error.log" -c "$conf" 2>> "$work/$name/stderr" &
    pids+=("$!")
    wait_up "nginx ($name)" "$!" "http://127.0.0.1:$3/" "$work/$name/stderr" "$work/$name/error.log"
}

# Starts an edgegate and sets EG_PID, EG_PORT, EG_ADMIN.
start_edgegate() { # name cache-size [extra serve args...]
    local name="$1" size="$2"
    shift 2
    mkdir -p "$work/$name"
    "$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --data-dir "$work/$name/data" --cache-size "$size" "$@" \
        > "$work/$name/out.txt" 2> "$work/$name/err.txt" &
    EG_PID=$!
    pids+=("$EG_PID")
    for _ in $(seq 200); do
        grep -q "viewer=" "$work/$name/out.txt" 2>/dev/null && break
        if ! kill -0 "$EG_PID" 2>/dev/null; then
            echo "compare.sh: edgegate ($name) exited during startup; its log:" >&2
            tail -n 40 "$work/$name/out.txt" "$work/$name/err.txt" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    local line
    line="$(grep -o 'viewer=http://[^ ]*' "$work/$name/out.txt" || true)"
    [[ -n "$line" ]] || { tail -n 40 "$work/$name/err.txt" >&2; die "edgegate ($name) printed no listening line"; }
    EG_PORT="${line##*:}"
    EG_ADMIN="$(grep -o 'admin=http://[^ ]*' "$work/$name/out.txt" | cut -d= -f2)"
    wait_up "edgegate ($name)" "$EG_PID" "http://127.0.0.1:$EG_PORT/" "$work/$name/err.txt"
}

hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# KiB held in edgegate's sendfile mirrors (sealed memfd files; page cache, not in its RSS).
# (A descriptor closed during the walk makes find and stat fail; the sum of the rest stands.)
mirror_kib() {
    { find "/proc/$1/fd" -lname '/memfd:edgegate-cached-body*' -exec stat -L -c %s {} + 2>/dev/null || true; } |
        awk '{s += $1} END {printf "%d", s / 1024}'
}
origin_count() { grep -c -- "$1" "$work/origin/access.log" || true; }

# ---------------------------------------------------------------- content
log "creating the origin's files in $work/site"
mkdir -p "$work/site/signed" "$work/site/miss" "$work/site/collapse" "$work/site/big" "$work/site/churn"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
head -c 65536 /dev/urandom > "$work/site/obj-64k.bin"
head -c 1048576 /dev/urandom > "$work/site/obj-1m.bin"
cp "$work/site/obj-1k.bin" "$work/site/signed/obj-1k.bin"
# Distinct URLs of the same bytes are hard links: cheap, and each is a separate cache entry.
head -c 1024 /dev/urandom > "$work/miss-1k.bin"
for r in $(seq "$rounds"); do
    for i in $(seq "$miss_n"); do ln "$work/miss-1k.bin" "$work/site/miss/m-$r-$i.bin"; done
done
head -c 262144 /dev/urandom > "$work/collapse-256k.bin"
for r in $(seq "$rounds"); do
    for s in varnish nginx edgegate; do ln "$work/collapse-256k.bin" "$work/site/collapse/c-$r-$s.bin"; done
done
churn_objects=1024
head -c 262144 /dev/urandom > "$work/churn-256k.bin"
for i in $(seq 0 $((churn_objects - 1))); do ln "$work/churn-256k.bin" "$work/site/churn/o-$i.bin"; done
head -c 1G /dev/urandom > "$work/big-1g.bin"
for r in $(seq "$rounds"); do ln "$work/big-1g.bin" "$work/site/big/big-$r.bin"; done

# ---------------------------------------------------------------- systems
log "starting the origin (nginx) on :$origin_port"
start_nginx origin "$peers/nginx-origin.conf.in" "$origin_port"
origin="http://127.0.0.1:$origin_port"
code="$(curl -s -o /dev/null -w '%{http_code}' "$origin/obj-1k.bin")"
[[ "$code" == 200 ]] || die "the origin answered $code for /obj-1k.bin (log: $(tail -n 5 "$work/origin/error.log"))"

log "starting nginx proxy_cache on :$nginx_port (h2c :$nginx_h2_port)"
start_nginx nginx "$peers/nginx-cache.conf.in" "$nginx_port"

log "starting varnishd on :$varnish_port"
render "$peers/varnish.vcl.in" "$work/varnish.vcl"
mkdir -p "$work/varnish"
# -j none: no privilege separation, so it runs as whoever runs this script (root or not) and
# can read the temp dir. Thread pools per Varnish's tuning advice: keep enough threads idle
# for every connection (2 pools x 200); malloc storage holds every object of the run.
varnishd -F -j none -n "$work/varnish" -a "127.0.0.1:$varnish_port" -T 127.0.0.1:0 \
    -f "$work/varnish.vcl" -s malloc,256m \
    -p thread_pools=2 -p thread_pool_min=200 -p thread_pool_max=4000 \
    -p feature=+http2 > "$work/varnish.log" 2>&1 &
pids+=("$!")
wait_up varnishd "$!" "http://127.0.0.1:$varnish_port/" "$work/varnish.log"

render "$peers/edgegate.toml.in" "$work/edgegate.toml"
cache_size="256MiB"
log "starting edgegate (--cache-size $cache_size)"
start_edgegate edgegate "$cache_size"
eg_pid=$EG_PID eg_port=$EG_PORT eg_admin=$EG_ADMIN

metering=0
"$bin" serve --help | grep -q -- '--metering' && metering=1
if ((metering)); then
    log "starting a second edgegate with --metering off"
    # Scenario 7 compares two fresh instances that serve nothing else, so neither carries the
    # journal and log delivery of the other scenarios' traffic.
    start_edgegate meteroff "$cache_size" --metering off
    off_port=$EG_PORT meteroff_pid=$EG_PID
    log "starting a third edgegate with metering on, for the comparison"
    # Its log delivery waits for shutdown, where its CPU is measured on its own: the minute's
    # burst of formatting and gzip would otherwise land in some measured windows and not others.
    start_edgegate meteron "$cache_size" --log-delivery-interval 3600
    on_port=$EG_PORT meteron_pid=$EG_PID meteron_dir=meteron
    log "starting a fourth edgegate with --metering off, the A/A control's second instance"
    start_edgegate meteroff2 "$cache_size" --metering off
    off2_port=$EG_PORT meteroff2_pid=$EG_PID
fi
# Stops scenario 7's three instances (waiting for each to exit, so the metering-on one's log
# delivery at shutdown is over before anything is measured) and starts fresh ones, warmed, in
# new data directories.
restart_meter_instances() { # round
    local p
    for p in "$meteroff_pid" "$meteron_pid" "$meteroff2_pid"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    start_edgegate "meteroff-r$1" "$cache_size" --metering off
    off_port=$EG_PORT meteroff_pid=$EG_PID
    start_edgegate "meteron-r$1" "$cache_size" --log-delivery-interval 3600
    on_port=$EG_PORT meteron_pid=$EG_PID meteron_dir="meteron-r$1"
    start_edgegate "meteroff2-r$1" "$cache_size" --metering off
    off2_port=$EG_PORT meteroff2_pid=$EG_PID
    warm_and_check meteroff "$(base_url meteroff)/obj-1k.bin"
    warm_and_check meteron "$(base_url meteron)/obj-1k.bin"
    warm_and_check meteroff2 "$(base_url meteroff2)/obj-1k.bin"
}
log "starting an edgegate with one event-loop thread (--workers 1), for scenario 1"
# Informational: wrk's two threads share the two cores with the system under test, so two
# event loops (the default: one per core) contend with them for the CPU; this shows what one
# loop does in the same run.
start_edgegate edgegate1 "$cache_size" --workers 1
w1_port=$EG_PORT

systems=(varnish nginx edgegate)
hit_systems=("${systems[@]}" edgegate1)
base_url() { # system -> base URL
    case "$1" in
        varnish) echo "http://127.0.0.1:$varnish_port" ;;
        nginx) echo "http://127.0.0.1:$nginx_port" ;;
        edgegate) echo "http://127.0.0.1:$eg_port" ;;
        edgegate1) echo "http://127.0.0.1:$w1_port" ;;
        meteroff) echo "http://127.0.0.1:$off_port" ;;
        meteron) echo "http://127.0.0.1:$on_port" ;;
        meteroff2) echo "http://127.0.0.1:$off2_port" ;;
        direct) echo "$origin" ;;
    esac
}
h2_url() {
    case "$1" in
        varnish) echo "http://127.0.0.1:$varnish_port" ;;
        nginx) echo "http://127.0.0.1:$nginx_h2_port" ;;
        edgegate) echo "http://127.0.0.1:$eg_port" ;;
    esac
}
# Extra request headers per system: edgegate routes by Host to the distribution.
host_args() { # system -> args for curl/wrk/h2load (one per line)
    case "$1" in
        edgegate | edgegate1 | meteroff | meteroff2 | meteron) printf '%s\n' -H "Host: $host" ;;
    esac
}
h2_host_args() {
    case "$1" in
        edgegate | edgegate1 | meteroff | meteroff2 | meteron) printf '%s\n' -H ":authority: $host" ;;
    esac
}

# Warms URL (two GETs) and dies unless the third answer is a cache hit by the system's own sign.
warm_and_check() { # system url
    local sys="$1" url="$2" hdrs code
    local -a ha
    mapfile -t ha < <(host_args "$sys")
    for _ in 1 2; do
        code="$(curl -s -o /dev/null -w '%{http_code}' "${ha[@]}" "$url")"
        [[ "$code" == 200 ]] || die "$sys answered $code to the warm-up GET $url"
    done
    hdrs="$(curl -s -o /dev/null -D - "${ha[@]}" "$url" | tr -d '\r')"
    case "$sys" in
        varnish) grep -Eqi '^x-varnish: [0-9]+ [0-9]+$' <<< "$hdrs" ;;
        nginx) grep -qi '^x-cache-status: hit' <<< "$hdrs" ;;
        edgegate | edgegate1 | meteroff | meteroff2 | meteron) grep -qi '^x-cache: hit from cloudfront' <<< "$hdrs" ;;
    esac || die "$sys did not serve $url from its cache after warming it; response headers:
$hdrs"
}

# ---------------------------------------------------------------- measuring helpers
# wrk -> "rps p50_ms p99_ms"; dies on errors or non-2xx answers.
run_wrk() { # system url [extra wrk args...]
    local sys="$1" url="$2" out
    shift 2
    local -a ha
    mapfile -t ha < <(host_args "$sys")
    out="$(wrk -t2 -c50 -d"${secs}s" --latency "${ha[@]}" "$@" "$url" 2>&1)" ||
        die "wrk against $sys failed: $out"
    if grep -q 'Non-2xx' <<< "$out"; then die "wrk against $sys saw non-2xx answers: $out"; fi
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                         if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ {rps = $2}
        /^ +50%/ {p50 = ms($2)}
        /^ +99%/ {p99 = ms($2)}
        END {printf "%.0f %.3f %.3f\n", rps, p50, p99}' <<< "$out"
}
pid_of() {
    case "$1" in
        edgegate) echo "$eg_pid" ;;
        meteroff) echo "${meteroff_pid:-}" ;;
        meteron) echo "${meteron_pid:-}" ;;
        meteroff2) echo "${meteroff2_pid:-}" ;;
    esac
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
clk_tck="$(getconf CLK_TCK)"
# run_wrk plus the edgegate instance's CPU time (user + system) per request, in µs:
# "rps p50 p99 cpu_us"
run_wrk_cpu() { # system url
    local pid t0 t1 out
    pid="$(pid_of "$1")"
    t0="$(cpu_ticks "$pid")"
    out="$(run_wrk "$1" "$2")"
    t1="$(cpu_ticks "$pid")"
    awk -v o="$out" -v d="$((t1 - t0))" -v hz="$clk_tck" -v s="$secs" 'BEGIN {
        split(o, f, " "); n = f[1] * s
        printf "%s %.2f\n", o, (n > 0 ? d * 1e6 / hz / n : 0) }'
}
# Two systems to compare, run A B B A, $abba times over, each run for a 2 x $abba-th of the
# round's time (at least 2 s): the load of these shared cores drifts over seconds, and short
# runs side by side see the same load. Prints A's and B's "rps p50 p99 cpu_us" (means over
# their runs), one per line.
abba="${ABBA:-5}"
run_abba() { # sysA urlA sysB urlB
    local each i
    local -a a=() b=()
    each=$(( secs / (2 * abba) > 2 ? secs / (2 * abba) : 2 ))
    for ((i = 0; i < abba; i++)); do
        a+=("$(secs=$each run_wrk_cpu "$1" "$2")")
        b+=("$(secs=$each run_wrk_cpu "$3" "$4")")
        b+=("$(secs=$each run_wrk_cpu "$3" "$4")")
        a+=("$(secs=$each run_wrk_cpu "$1" "$2")")
    done
    mean_runs "${a[@]}"
    mean_runs "${b[@]}"
}
mean_runs() { # "rps p50 p99 cpu_us"... -> their means
    printf '%s\n' "$@" | awk '{for (i = 1; i <= 4; i++) s[i] += $i; n++}
        END {printf "%.0f %.3f %.3f %.2f\n", s[1] / n, s[2] / n, s[3] / n, s[4] / n}'
}
# h2load over h2c (prior knowledge) -> "rps mean_ms"
run_h2load() { # system url
    local sys="$1" url="$2" out
    local -a ha
    mapfile -t ha < <(h2_host_args "$sys")
    out="$(h2load -c50 -m10 -t2 -D "$secs" --warm-up-time=1 "${ha[@]}" "$url" 2>&1)" ||
        die "h2load against $sys failed: $out"
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                         if (v ~ /s$/) return v * 1000; return v }
        /^finished in/ {rps = $4}
        /^requests:/ {ok = $8}
        /^status codes:/ {bad = $7 + $9}
        /^time for request:/ {mean = ms($6)}
        END {
            if (ok + 0 == 0 || bad + 0 > 0) { print "FAIL"; exit }
            printf "%.0f %.3f\n", rps, mean
        }' <<< "$out"
}
median() { sort -g | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "nan"}'; }
pctl() { sort -g | awk -v p="$1" '{a[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "nan"; else printf "%.3f", a / b}'; }
fmt_mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
# held A OP B -> "yes" or "**no**" (OP one of >= <= == <)
held() { awk -v a="$1" -v b="$3" "BEGIN {print ((a + 0 $2 b + 0) ? \"yes\" : \"**no**\")}"; }

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
busy_start="$(ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|ld|lld|clippy-driver)$' || true)"

# ---------------------------------------------------------------- warm-up
log "warming every cache"
for sys in "${hit_systems[@]}"; do
    for o in obj-1k.bin obj-64k.bin obj-1m.bin; do warm_and_check "$sys" "$(base_url "$sys")/$o"; done
done
if ((metering)); then
    warm_and_check meteroff "$(base_url meteroff)/obj-1k.bin"
    warm_and_check meteron "$(base_url meteron)/obj-1k.bin"
    warm_and_check meteroff2 "$(base_url meteroff2)/obj-1k.bin"
fi
signed_url_full="$("$bin" sign url --url "http://$host/signed/obj-1k.bin" --key-pair-id KBENCH0000001 \
    --private-key "$root/keys/demo-private.pem" --expires +2h)"
signed_url="http://127.0.0.1:$eg_port${signed_url_full#http://$host}"
warm_and_check edgegate "$signed_url"
# The signed behavior really is restricted: the same path unsigned must be refused.
code="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:$eg_port/signed/obj-1k.bin")"
[[ "$code" == 403 ]] || die "edgegate answered $code (not 403) to an unsigned /signed/ request"

# h2c support check: a single request per system.
declare -A h2ok
for sys in "${systems[@]}"; do
    mapfile -t ha < <(h2_host_args "$sys")
    out="$(h2load -n1 -c1 "${ha[@]}" "$(h2_url "$sys")/obj-1k.bin" 2>&1 || true)"
    if grep -q '1 succeeded' <<< "$out" && grep -q 'h2c' <<< "$out"; then h2ok[$sys]=1; else h2ok[$sys]=0; fi
done

# ---------------------------------------------------------------- 1 + 2 + 7: hits (interleaved)
declare -A R   # R[scenario,system,round] = "rps p50 p99" (or "rps mean" for h2)
sizes=(1k 64k 1m)
for r in $(seq "$rounds"); do
    for sz in "${sizes[@]}"; do
        for sys in "${hit_systems[@]}"; do
            log "round $r/$rounds: $sz hits, $sys"
            R[hit$sz,$sys,$r]="$(run_wrk "$sys" "$(base_url "$sys")/obj-$sz.bin")"
        done
    done
    for sys in "${systems[@]}"; do
        ((h2ok[$sys])) || continue
        log "round $r/$rounds: h2c 1k hits, $sys"
        R[h2,$sys,$r]="$(run_h2load "$sys" "$(h2_url "$sys")/obj-1k.bin")"
    done
    log "round $r/$rounds: unsigned vs signed hits, edgegate (A B B A)"
    mapfile -t pair < <(run_abba edgegate "$(base_url edgegate)/obj-1k.bin" edgegate "$signed_url")
    R[unsigned,edgegate,$r]="${pair[0]}" R[signed,edgegate,$r]="${pair[1]}"
done
# Scenario 7 runs its own rounds, each against freshly started instances: the A/A control showed
# two identical instances a few percent apart for as long as they ran (where their threads and
# memory happened to land), so one pair kept for every round would read that as the cost of
# metering. Fresh pairs round after round average it out.
meter_rounds="${METER_ROUNDS:-$((2 * rounds))}"
if ((metering)); then
    for r in $(seq "$meter_rounds"); do
        if ((r > 1)); then
            log "round $r/$meter_rounds of scenario 7: restarting its three edgegates"
            restart_meter_instances "$r"
        fi
        log "round $r/$meter_rounds: metering on vs off, edgegate (A B B A)"
        mapfile -t pair < <(run_abba meteroff "$(base_url meteroff)/obj-1k.bin" \
            meteron "$(base_url meteron)/obj-1k.bin")
        R[meter_off,meteroff,$r]="${pair[0]}" R[meter_on,meteron,$r]="${pair[1]}"
        log "round $r/$meter_rounds: A/A control, two edgegates with metering off (A B B A)"
        mapfile -t pair < <(run_abba meteroff "$(base_url meteroff)/obj-1k.bin" \
            meteroff2 "$(base_url meteroff2)/obj-1k.bin")
        R[aa_a,meteroff,$r]="${pair[0]}" R[aa_b,meteroff2,$r]="${pair[1]}"
    done
fi
eg_hits_hwm="$(hwm_kib "$eg_pid")"

# Log delivery of the metering-on instance: everything it served, formatted and gzipped at
# shutdown. Its CPU is the process's CPU from SIGTERM to exit (read until the process is gone).
# A zombie (exited, not yet reaped) still shows its final times, and ends the wait.
cpu_ticks() { awk '{print $14 + $15, $3}' "/proc/$1/stat" 2>/dev/null; }
delivery_us=nan
if ((metering)); then
    log "stopping the metering-on edgegate: its log delivery runs now, measured alone"
    read -r before _ <<< "$(cpu_ticks "$meteron_pid")"
    last="$before"
    kill -TERM "$meteron_pid"
    while read -r now state <<< "$(cpu_ticks "$meteron_pid")" && [[ -n "$now" ]]; do
        last="$now"
        [[ "$state" == Z ]] && break
        sleep 0.05
    done
    wait "$meteron_pid" 2>/dev/null || true
    delivered="$(cat "$work/$meteron_dir"/data/logs/*.gz 2>/dev/null | gzip -dc | grep -vc '^#' || true)"
    delivery_us="$(awk -v t=$((last - before)) -v n="${delivered:-0}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {if (n + 0 == 0) print "nan"; else printf "%.2f", t * 1e6 / hz / n}')"
fi

col() { # scenario system field -> median over rounds of that field
    local r
    for r in $(seq "$rounds"); do
        local v="${R[$1,$2,$r]:-}"
        if [[ -n "$v" && "$v" != FAIL ]]; then awk -v f="$3" '{print $f}' <<< "$v"; fi
    done | median
}
# paired_ratio scenB sysB scenA sysA field -> median over rounds of B/A, each round's pair
# having run side by side (A B B A)
paired_ratio() {
    local r
    for r in $(seq "$rounds"); do
        local b="${R[$1,$2,$r]:-}" a="${R[$3,$4,$r]:-}"
        [[ -n "$a" && -n "$b" ]] || continue
        ratio "$(awk -v f="$5" '{print $f}' <<< "$b")" "$(awk -v f="$5" '{print $f}' <<< "$a")"
        echo
    done | median
}
per_ratio() { # scenB sysB scenA sysA -> "x / y / z" req/s ratios per round
    local r out=()
    for r in $(seq "$rounds"); do
        out+=("$(ratio "$(awk '{print $1}' <<< "${R[$1,$2,$r]}")" "$(awk '{print $1}' <<< "${R[$3,$4,$r]}")")")
    done
    local IFS=/
    echo "${out[*]}" | sed 's|/| / |g'
}
# The same over scenario 7's rounds.
mcol() { rounds=$meter_rounds col "$@"; }
mpaired_ratio() { rounds=$meter_rounds paired_ratio "$@"; }
mper_ratio() { rounds=$meter_rounds per_ratio "$@"; }
mper_round() { rounds=$meter_rounds per_round "$@"; }
per_round() { # scenario system -> "a / b / c" req/s
    local r out=()
    for r in $(seq "$rounds"); do out+=("$(awk '{print $1}' <<< "${R[$1,$2,$r]:-n/a}")"); done
    local IFS=/
    echo "${out[*]}" | sed 's|/| / |g'
}

# ---------------------------------------------------------------- 3: miss path (interleaved)
declare -A MISS
for r in $(seq "$rounds"); do
    for sys in direct "${systems[@]}"; do
        log "round $r/$rounds: $miss_n sequential misses, $sys"
        mapfile -t ha < <(host_args "$sys")
        args=()
        for i in $(seq "$miss_n"); do args+=(-o /dev/null "$(base_url "$sys")/miss/m-$r-$i.bin"); done
        MISS[$sys]+="$(curl -s -f "${ha[@]}" -w '%{time_total}\n' "${args[@]}")"$'\n' ||
            die "a miss-path request through $sys failed"
    done
    fetched="$(origin_count "/miss/m-$r-")"
    ((fetched == 4 * miss_n)) ||
        die "round $r of the miss path made $fetched origin requests, not $((4 * miss_n)): some system did not miss"
done
miss_stat() { # system pct -> ms
    grep -v '^$' <<< "${MISS[$1]}" | awk '{print $1 * 1000}' | pctl "$2"
}

# ---------------------------------------------------------------- 4: collapsing (interleaved)
declare -A COLL
for r in $(seq "$rounds"); do
    for sys in "${systems[@]}"; do
        log "round $r/$rounds: 200 concurrent requests for one cold object, $sys"
        p="/collapse/c-$r-$sys.bin"
        mapfile -t ha < <(h2_host_args "$sys")
        out="$(h2load --h1 -n200 -c200 -t2 "${ha[@]}" "$(base_url "$sys")$p" 2>&1)" ||
            die "h2load (collapsing) against $sys failed: $out"
        grep -q '200 succeeded' <<< "$out" || die "collapsing against $sys: not all 200 requests succeeded: $out"
        COLL[$sys]+="$(origin_count "$p") "
    done
done

# ---------------------------------------------------------------- 5: 1 GiB through the miss path
log "starting a fresh edgegate for the 1 GiB object"
start_edgegate big "$cache_size"
big_pid=$EG_PID big_port=$EG_PORT
declare -A BIG
for r in $(seq "$rounds"); do
    for sys in direct big; do
        log "round $r/$rounds: 1 GiB object, $sys"
        if [[ $sys == direct ]]; then u="$origin/big/big-$r.bin"; ha=(); else
            u="http://127.0.0.1:$big_port/big/big-$r.bin"; ha=(-H "Host: $host"); fi
        out="$(curl -s -f "${ha[@]}" -o /dev/null -w '%{time_starttransfer} %{speed_download} %{size_download}' "$u")" ||
            die "the 1 GiB GET through $sys failed"
        read -r ttfb speed size <<< "$out"
        ((size == 1073741824)) || die "the 1 GiB GET through $sys returned $size bytes"
        BIG[$sys,ttfb]+="$(awk -v t="$ttfb" 'BEGIN {printf "%.3f", t * 1000}') "
        BIG[$sys,mibs]+="$(awk -v s="$speed" 'BEGIN {printf "%.0f", s / 1048576}') "
    done
done
big_hwm="$(hwm_kib "$big_pid")"
kill -TERM "$big_pid" 2>/dev/null || true

# ---------------------------------------------------------------- 6: churn
churn_size_mib=64
log "starting a fresh edgegate (--cache-size ${churn_size_mib}MiB) for ${churn_secs}s of churn"
start_edgegate churn "${churn_size_mib}MiB"
churn_pid=$EG_PID churn_port=$EG_PORT
before="$(origin_count /churn/)"
# Peak of RSS + mirrors, sampled every second while wrk runs.
(
    peak=0
    while [[ ! -e "$work/churn.done" ]] && kill -0 "$churn_pid" 2>/dev/null; do
        m=$(($(rss_kib "$churn_pid" || echo 0) + $(mirror_kib "$churn_pid")))
        ((m > peak)) && peak=$m && echo "$peak" > "$work/churn.peak"
        sleep 1
    done
) &
sampler=$!
out="$(wrk -t2 -c50 -d"${churn_secs}s" --latency -H "Host: $host" -s "$peers/random-path.lua" \
    "http://127.0.0.1:$churn_port/" -- "$churn_objects" 2>&1)" || die "wrk (churn) failed: $out"
touch "$work/churn.done"
wait "$sampler" 2>/dev/null || true
grep -q 'Non-2xx' <<< "$out" && die "churn saw non-2xx answers: $out"
churn_reqs="$(awk '/requests in/ {print $1}' <<< "$out")"
churn_rps="$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<< "$out")"
churn_misses=$(($(origin_count /churn/) - before))
churn_hit="$(awk -v m="$churn_misses" -v n="$churn_reqs" 'BEGIN {printf "%.3f", (n > 0) ? 1 - m / n : 0}')"
churn_hwm="$(hwm_kib "$churn_pid")"
churn_rss="$(rss_kib "$churn_pid")"
churn_mirrors="$(mirror_kib "$churn_pid")"
churn_total_peak="$(cat "$work/churn.peak" 2>/dev/null || echo 0)"
# A cached 256 KiB object weighs twice when it has a sendfile mirror (the default), so the cache
# holds half as many of them.
churn_weight=1
"$bin" serve --help | grep -q -- '--sendfile' && churn_weight=2
# Uniform random access: a cache holding C of N objects hits about C / N of the time.
churn_ideal="$(awk -v c="$churn_size_mib" -v n="$churn_objects" -v w="$churn_weight" 'BEGIN {printf "%.3f", (c * 4) / n / w}')"

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
busy_end="$(ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|ld|lld|clippy-driver)$' || true)"

# ---------------------------------------------------------------- report
cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$root" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | head -c1)"
[[ -n "$dirty" ]] && rev="$rev+local changes"
versions="nginx $(nginx -v 2>&1 | sed 's|.*/||' || true), $(varnishd -V 2>&1 | head -1 | sed 's/ (\(varnish-[^ ]*\).*/ \1/; s/varnishd //' || true), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}' || true), h2load $(h2load --version | awk '{print $NF}' | sed 's|.*/||' || true)"

declare -a SUM   # summary rows
sum() { SUM+=("| $1 | $2 | $3 |"); }

hits_table() {
    echo "| object | system | req/s (median) | p50 ms | p99 ms | req/s per round |"
    echo "|---|---|---|---|---|---|"
    local sz sys
    for sz in "${sizes[@]}"; do
        for sys in "${hit_systems[@]}"; do
            local label=$sys
            [[ $sys == edgegate1 ]] && label="edgegate --workers 1"
            echo "| $sz | $label | $(col "hit$sz" "$sys" 1) | $(col "hit$sz" "$sys" 2) | $(col "hit$sz" "$sys" 3) | $(per_round "hit$sz" "$sys") |"
        done
    done
    echo
    echo "| object | edgegate / best peer, req/s | edgegate p99 / best peer p99 |"
    echo "|---|---|---|"
    for sz in "${sizes[@]}"; do
        local v n e best bestsys p99best ep99 rr pr
        v="$(col "hit$sz" varnish 1)" n="$(col "hit$sz" nginx 1)" e="$(col "hit$sz" edgegate 1)"
        if awk -v a="$v" -v b="$n" 'BEGIN {exit !(a + 0 >= b + 0)}'; then best=$v bestsys=varnish; else best=$n bestsys=nginx; fi
        p99best="$(printf '%s\n' "$(col "hit$sz" varnish 3)" "$(col "hit$sz" nginx 3)" | sort -g | head -1)"
        ep99="$(col "hit$sz" edgegate 3)"
        rr="$(ratio "$e" "$best")" pr="$(ratio "$ep99" "$p99best")"
        echo "| $sz | $rr (vs $bestsys) | $pr ($ep99 vs $p99best ms) |"
        sum "$sz hits: req/s >= 1.0 x best peer" "$rr x $bestsys" "$(held "$rr" '>=' 1.0)"
        sum "$sz hits: p99 <= best peer p99" "$ep99 ms vs $p99best ms" "$(held "$ep99" '<=' "$p99best")"
        W1[$sz]="$(ratio "$(col "hit$sz" edgegate1 1)" "$best") x $bestsys, p99 $(col "hit$sz" edgegate1 3) vs $p99best ms"
        sum "$sz hits, one event loop (informational)" "${W1[$sz]}" "-"
    done
    echo
    echo "With one event loop (\`--workers 1\`, informational), edgegate / best peer:"
    echo
    echo "| object | req/s | p99 |"
    echo "|---|---|---|"
    for sz in "${sizes[@]}"; do
        echo "| $sz | ${W1[$sz]%%, p99*} | ${W1[$sz]#*, p99 } |"
    done
}
declare -A W1

h2_table() {
    echo "| system | req/s (median) | mean ms | req/s per round |"
    echo "|---|---|---|---|"
    local sys best=0 bestsys=""
    for sys in "${systems[@]}"; do
        if ((h2ok[$sys])); then
            echo "| $sys | $(col h2 "$sys" 1) | $(col h2 "$sys" 2) | $(per_round h2 "$sys") |"
            if [[ $sys != edgegate ]] && awk -v a="$(col h2 "$sys" 1)" -v b="$best" 'BEGIN {exit !(a + 0 > b + 0)}'; then
                best="$(col h2 "$sys" 1)" bestsys=$sys
            fi
        else
            echo "| $sys | no h2c (prior knowledge) answer | | |"
        fi
    done
    if ((h2ok[edgegate])) && [[ -n $bestsys ]]; then
        local rr
        rr="$(ratio "$(col h2 edgegate 1)" "$best")"
        echo
        echo "edgegate / best peer over h2c: **$rr** (vs $bestsys)"
        sum "1k hits over h2c: req/s vs best peer (informational)" "$rr x $bestsys" "$(held "$rr" '>=' 1.0)"
    fi
}

section="$(
    cat <<MD

## edgegate beside Varnish and nginx ($(date -u +%Y-%m-%dT%H:%MZ)$( ((quick)) && echo ", --quick"))

Machine: $(nproc) cores, $cpu, kernel $(uname -r). $versions. edgegate $rev.
Everything (origin, peers, edgegate, wrk/h2load) shares these cores on loopback. Load average
$load_start at the start, $load_end at the end; compiler processes running: $busy_start at the
start, $busy_end at the end$( ((busy_start + busy_end > 0)) && echo " (**other builds shared the cores during this run**)").
$rounds interleaved round(s) of ${secs} s per measurement; figures are medians over rounds.
Peers: Varnish (malloc 256m, 2 thread pools, 200-4000 threads, TTL 1h), nginx proxy_cache (cache
on tmpfs, keys zone 32m, lock on, upstream keep-alive, sendfile, open_file_cache), edgegate
(\`--cache-size $cache_size\`, CachingOptimized). Configs: \`benches/peers/\`.

### 1. Cache hits, HTTP/1.1 (wrk -t2 -c50 --latency)

$(hits_table)

### 1b. Cache hits over h2c, 1 KiB (h2load -c50 -m10 -t2; prior knowledge)

$(h2_table)

### 2. Signed vs unsigned cache hits on edgegate (1 KiB, wrk -t2 -c50)

Each round runs unsigned, signed, signed, unsigned, $abba times over, in runs of equal length;
the ratio is the median over rounds of each round's signed / unsigned (means over its runs).

| | req/s (median) | p50 ms | p99 ms | edgegate CPU µs per request | req/s per round |
|---|---|---|---|---|---|
| unsigned | $(col unsigned edgegate 1) | $(col unsigned edgegate 2) | $(col unsigned edgegate 3) | $(col unsigned edgegate 4) | $(per_round unsigned edgegate) |
| signed (canned policy) | $(col signed edgegate 1) | $(col signed edgegate 2) | $(col signed edgegate 3) | $(col signed edgegate 4) | $(per_round signed edgegate) |

signed / unsigned = **$(paired_ratio signed edgegate unsigned edgegate 1)** (target >= 0.9; per round: $(per_ratio signed edgegate unsigned edgegate))

### 3. Miss path: $miss_n sequential GETs of distinct cold 1 KiB objects per round (curl, keep-alive)

| system | median ms | p99 ms | added median ms | added p99 ms |
|---|---|---|---|---|
$(for sys in direct "${systems[@]}"; do
        m="$(miss_stat "$sys" 50)" p="$(miss_stat "$sys" 99)"
        echo "| $sys | $m | $p | $(awk -v a="$m" -v b="$(miss_stat direct 50)" 'BEGIN {printf "%+.3f", a - b}') | $(awk -v a="$p" -v b="$(miss_stat direct 99)" 'BEGIN {printf "%+.3f", a - b}') |"
    done)

### 4. Collapsing: 200 concurrent GETs of one cold 256 KiB object (h2load --h1 -c200 -n200; the origin sends it at 1 MiB/s)

| system | origin requests per round |
|---|---|
$(for sys in "${systems[@]}"; do echo "| $sys | ${COLL[$sys]% } |"; done)

### 5. One 1 GiB object through edgegate's miss path (fresh edgegate, --cache-size $cache_size)

| | TTFB ms per round | MiB/s per round |
|---|---|---|
| origin direct | ${BIG[direct,ttfb]} | ${BIG[direct,mibs]} |
| through edgegate | ${BIG[big,ttfb]} | ${BIG[big,mibs]} |

edgegate peak RSS (VmHWM) over this scenario: **$(fmt_mib "$big_hwm")**. The object is larger than
edgegate's cacheable size (--cache-size / 8), so it is passed through, streamed, not stored.

### 6. Churn: ${churn_objects} objects x 256 KiB (4 x --cache-size ${churn_size_mib}MiB), uniform random, ${churn_secs} s (wrk -t2 -c50)

| requests | req/s | origin fetches | hit ratio | cache / (working set x weight) | peak RSS | RSS at end | mirrors at end | peak RSS + mirrors (1 s samples) |
|---|---|---|---|---|---|---|---|---|
| $churn_reqs | $churn_rps | $churn_misses | $churn_hit | $churn_ideal (${churn_size_mib} MiB / 256 MiB / $churn_weight) | $(fmt_mib "$churn_hwm") | $(fmt_mib "$churn_rss") | $(fmt_mib "$churn_mirrors") | $(fmt_mib "$churn_total_peak") |

The hit ratio is 1 - origin fetches / requests, from a cold start; with uniform random access an
LRU-like cache of that size should land near "cache / working set" (collapsed concurrent misses
count as hits). With \`--sendfile on\` (the default) a cached body of 16 KiB or more is also held
in a sealed memfd (page cache, outside the RSS) and weighs twice, hence the weight of 2 and the
mirrors' column; the memory target is checked against the larger of peak RSS and the sampled
peak of RSS + mirrors.

### 7. Metering on vs off (1 KiB hits)

$(if ((metering)); then
        echo "$meter_rounds rounds, each against freshly started edgegate instances of the same build that serve"
        echo "only this scenario (the instance of scenarios 1-2 also meters, but carries the journal and log"
        echo "delivery of all their traffic). Each round runs off, on, on, off, $abba times over, in runs of"
        echo "equal length; the ratio is the median over rounds of each round's on / off. CPU per request"
        echo "counts every thread of the instance, the journal writer and log delivery included."
        echo
        echo "| | req/s (median) | p99 ms | edgegate CPU µs per request | req/s per round |"
        echo "|---|---|---|---|---|"
        echo "| metering on | $(mcol meter_on meteron 1) | $(mcol meter_on meteron 3) | $(mcol meter_on meteron 4) | $(mper_round meter_on meteron) |"
        echo "| metering off | $(mcol meter_off meteroff 1) | $(mcol meter_off meteroff 3) | $(mcol meter_off meteroff 4) | $(mper_round meter_off meteroff) |"
        echo
        echo "on / off = **$(mpaired_ratio meter_on meteron meter_off meteroff 1)** (target >= 0.95; per round: $(mper_ratio meter_on meteron meter_off meteroff)); CPU per request on / off = $(ratio "$(mcol meter_on meteron 4)" "$(mcol meter_off meteroff 4)")"
        echo
        echo "A/A control, the same method between the metering-off instance and a second, identical one"
        echo "(nothing differs, so any distance from 1 is the method's own error in this run): second /"
        echo "first = **$(mpaired_ratio aa_b meteroff2 aa_a meteroff 1)** (per round: $(mper_ratio aa_b meteroff2 aa_a meteroff)); CPU per request second / first = $(ratio "$(mcol aa_b meteroff2 4)" "$(mcol aa_a meteroff 4)")"
        echo
        echo "The metering-on instance runs with \`--log-delivery-interval 3600\`, so no delivery falls in a"
        echo "measured window; its delivery of everything it served runs at shutdown, at nice 10, and is"
        echo "measured there: **${delivered:-0}** records formatted as CloudFront log lines and gzipped with"
        echo "**$delivery_us µs** of CPU per record. Counting that CPU against serving (a machine that is"
        echo "saturated all the time), CPU per request on / off is $(awk -v on="$(mcol meter_on meteron 4)" -v d="$delivery_us" -v off="$(mcol meter_off meteroff 4)" 'BEGIN {if (off + 0 == 0 || d == "nan") print "nan"; else printf "%.3f", (on + d) / off}')."
    else
        echo "Skipped: this build's \`edgegate serve --help\` has no \`--metering\` flag."
    fi)

edgegate (the hits instance) peak RSS after all hit runs: $(fmt_mib "$eg_hits_hwm").
MD
)"

# Summary rows (computed here so the hits/h2 rows come first).
SUM=()
hits_table > /dev/null
h2_table > /dev/null
sr="$(paired_ratio signed edgegate unsigned edgegate 1)"
sum "signed hits >= 0.9 x unsigned" "$sr" "$(held "$sr" '>=' 0.9)"
coll_ok=1
for c in ${COLL[edgegate]}; do ((c == 1)) || coll_ok=0; done
sum "collapsing: exactly 1 origin fetch (edgegate)" "${COLL[edgegate]% }" "$(held "$coll_ok" '==' 1)"
d_ttfb="$(tr ' ' '\n' <<< "${BIG[direct,ttfb]}" | grep . | median)"
e_ttfb="$(tr ' ' '\n' <<< "${BIG[big,ttfb]}" | grep . | median)"
sum "1 GiB miss: TTFB within 50 ms of origin's" "$e_ttfb ms vs $d_ttfb ms" \
    "$(held "$(awk -v a="$e_ttfb" -v b="$d_ttfb" 'BEGIN {print a - b}')" '<=' 50)"
sum "1 GiB miss: peak RSS < 128 MiB" "$(fmt_mib "$big_hwm")" "$(held "$big_hwm" '<' $((128 * 1024)))"
churn_mem=$((churn_hwm > churn_total_peak ? churn_hwm : churn_total_peak))
sum "churn: peak memory (RSS, and RSS + sendfile mirrors) < --cache-size + 64 MiB ($((churn_size_mib + 64)) MiB)" \
    "$(fmt_mib "$churn_hwm") RSS, $(fmt_mib "$churn_total_peak") with mirrors" \
    "$(held "$churn_mem" '<' $(((churn_size_mib + 64) * 1024)))"
sum "churn: hit ratio sane (>= 0.5 x cache / working set = $churn_ideal)" "$churn_hit" \
    "$(held "$churn_hit" '>=' "$(awk -v i="$churn_ideal" 'BEGIN {print 0.5 * i}')")"
sum "miss path: added latency over origin (informational)" \
    "median $(awk -v a="$(miss_stat edgegate 50)" -v b="$(miss_stat direct 50)" 'BEGIN {printf "%+.3f", a - b}') ms, p99 $(awk -v a="$(miss_stat edgegate 99)" -v b="$(miss_stat direct 99)" 'BEGIN {printf "%+.3f", a - b}') ms" "-"
if ((metering)); then
    mr="$(mpaired_ratio meter_on meteron meter_off meteroff 1)"
    sum "metering on / off >= 0.95 (issue 4)" "$mr" "$(held "$mr" '>=' 0.95)"
    sum "A/A control: off / off, identical instances (informational)" \
        "$(mpaired_ratio aa_b meteroff2 aa_a meteroff 1) (per round: $(mper_ratio aa_b meteroff2 aa_a meteroff))" "-"
else
    sum "metering on / off" "skipped: no --metering flag in this build" "-"
fi

section+="$(
    cat <<MD


### Summary

| target | measured | held? |
|---|---|---|
$(printf '%s\n' "${SUM[@]}")
MD
)"

echo "$section"
results="$(results_file compare "edgegate beside Varnish and nginx (benches/compare.sh)")"
echo "$section" >> "$results"
log "appended to ${results#"$root"/}"

# The HTTPS scenarios (HTTP/1.1 and HTTP/2 hits, 1 KiB and 64 KiB, against nginx with OpenSSL
# and Varnish behind Hitch): benches/tls.sh, same rounds and run length, same binary; TLS=0
# skips them.
if [[ "${TLS:-1}" != 0 ]]; then
    log "HTTPS scenarios: benches/tls.sh"
    ROUNDS="$rounds" SECS="$secs" "$root/benches/tls.sh" "$bin"
fi
