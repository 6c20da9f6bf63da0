#!/usr/bin/env bash
# Cache hits over HTTPS (issue 25, item 4): edgegate (rustls) beside nginx proxy_cache (OpenSSL)
# and Varnish behind Hitch (the TLS terminator Varnish's docs advise, PROXY protocol v2), all in
# front of the same static origin, with the same self-signed P-256 certificate made here, in one
# run. Every system listens on 127.0.0.1; rounds interleave the systems so drift hits all alike,
# and each figure is the median over rounds. benches/compare.sh runs this at its end.
#
#   benches/tls.sh [--quick] [BIN]
#
#   default: 3 rounds x 10 s per run; --quick: 1 round x 5 s. ROUNDS=, SECS= override.
#   BIN: the edgegate binary to measure (default: a release build of this repository).
#   H2_CONNS= (16) and H2_STREAMS= (32): h2load's connections and streams per connection.
#
# Scenarios, at 1 KiB and 64 KiB: HTTPS HTTP/1.1 hits (wrk -t2 -c50, no ALPN, so HTTP/1.1), and
# HTTPS HTTP/2 hits (h2load -t2, H2_CONNS connections x H2_STREAMS concurrent streams; p99 from
# its per-request log). Prints markdown tables (req/s and p99, edgegate / best peer) and what
# each system negotiates, and appends them with the machine's load to
# benches/results/YYYY-MM-DD-tls.md. Needs nginx, varnish, hitch, wrk, nghttp2-client (h2load),
# openssl and curl; installs the missing ones with apt-get (as root).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

quick=0
if [[ "${1:-}" == --quick ]]; then quick=1; shift; fi
case "${1:-}" in -h | --help) sed -n '2,19p' "$0"; exit 0 ;; esac
if ((quick)); then rounds="${ROUNDS:-1}" secs="${SECS:-5}"; else rounds="${ROUNDS:-3}" secs="${SECS:-10}"; fi
h2c="${H2_CONNS:-16}" h2m="${H2_STREAMS:-32}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=tls
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
cd "$root"
log() { echo ">> $*" >&2; }

need nginx:nginx varnishd:varnish hitch:hitch wrk:wrk h2load:nghttp2-client curl:curl openssl:openssl
bin="$(edgegate_bin "${1:-}")"

# nginx's cache on tmpfs when there is one, as in compare.sh (all caches in RAM).
if [[ -d /dev/shm && -w /dev/shm ]]; then
    cache_dir="$(mktemp -d /dev/shm/edgegate-tls-nginx.XXXXXX)"
else
    cache_dir="$work/nginx-cache"
fi
trap 'cleanup; rm -rf "$cache_dir"' EXIT

nginx_tls_port="$(port)" hitch_port="$(port)" varnish_port="$(port)" varnish_proxy_port="$(port)"
hitch_user=""
((EUID == 0)) && hitch_user='user = "nobody"'
render_tls() { # template output
    render "$1" "$2.tmp"
    sed -e "s|@CACHE_DIR@|$cache_dir|g" -e "s|@NGINX_TLS_PORT@|$nginx_tls_port|g" \
        -e "s|@HITCH_PORT@|$hitch_port|g" -e "s|@VARNISH_PROXY_PORT@|$varnish_proxy_port|g" \
        -e "s|@WORKERS@|$(nproc)|g" -e "s|@HITCH_USER@|$hitch_user|g" "$2.tmp" > "$2"
    rm -f "$2.tmp"
}

# ---------------------------------------------------------------- certificate and content
log "making a self-signed P-256 certificate in $work/tls"
mkdir -p "$work/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$host" -addext "subjectAltName=DNS:$host,IP:127.0.0.1" \
    -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2> /dev/null
cat "$work/tls/key.pem" "$work/tls/cert.pem" > "$work/tls/combined.pem"
chmod 755 "$work" "$work/tls" && chmod 644 "$work/tls/"*.pem # hitch's workers run as nobody
mkdir -p "$work/site"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
head -c 65536 /dev/urandom > "$work/site/obj-64k.bin"

# ---------------------------------------------------------------- systems
log "starting the origin"
start_origin

log "starting nginx (TLS) on :$nginx_tls_port"
mkdir -p "$work/nginx-tls"
render_tls "$peers/nginx-tls.conf.in" "$work/nginx-tls.conf"
nginx -p "$work/nginx-tls" -e "$work/nginx-tls/error.log" -c "$work/nginx-tls.conf" \
    2> "$work/nginx-tls/stderr" &
pids+=("$!")

log "starting varnishd (PROXY listener :$varnish_proxy_port) behind hitch on :$hitch_port"
render "$peers/varnish.vcl.in" "$work/varnish.vcl"
mkdir -p "$work/varnish"
# As in compare.sh: no privilege separation, thread pools per Varnish's tuning advice, HTTP/2 on.
varnishd -F -j none -n "$work/varnish" -a "127.0.0.1:$varnish_port" \
    -a "127.0.0.1:$varnish_proxy_port,PROXY" -T 127.0.0.1:0 -f "$work/varnish.vcl" -s malloc,256m \
    -p thread_pools=2 -p thread_pool_min=200 -p thread_pool_max=4000 \
    -p feature=+http2 > "$work/varnish.log" 2>&1 &
pids+=("$!")
render_tls "$peers/hitch.conf.in" "$work/hitch.conf"
hitch --config "$work/hitch.conf" > "$work/hitch.log" 2>&1 &
pids+=("$!")

log "starting edgegate (TLS)"
mkdir -p "$work/edgegate"
"$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --listen-tls 127.0.0.1:0 --tls-cert "$work/tls/cert.pem" --tls-key "$work/tls/key.pem" \
    --data-dir "$work/edgegate/data" --cache-size 256MiB \
    > "$work/edgegate/out.txt" 2> "$work/edgegate/err.txt" &
eg_pid=$!
pids+=("$eg_pid")
for _ in $(seq 200); do
    grep -q "viewer_tls=" "$work/edgegate/out.txt" 2>/dev/null && break
    kill -0 "$eg_pid" 2>/dev/null || { tail "$work/edgegate/err.txt" >&2; die "edgegate exited"; }
    sleep 0.1
done
eg_tls_port="$(grep -o 'viewer_tls=https://[^ ]*' "$work/edgegate/out.txt" | sed 's/.*://')"
[[ -n "$eg_tls_port" ]] || die "edgegate printed no viewer_tls= line: $(cat "$work/edgegate/err.txt")"

systems=(varnish nginx edgegate)
port_of() { case "$1" in varnish) echo "$hitch_port" ;; nginx) echo "$nginx_tls_port" ;; edgegate) echo "$eg_tls_port" ;; esac; }
url_of() { echo "https://127.0.0.1:$(port_of "$1")/$2"; }

# Warms one object (two GETs over TLS) and dies unless the third answer is a hit by the
# system's own sign.
warm_and_check() { # system object
    local sys="$1" url hdrs code i
    url="$(url_of "$1" "$2")"
    for i in $(seq 100); do
        code="$(curl -sk -o /dev/null -w '%{http_code}' -H "Host: $host" "$url" || true)"
        [[ "$code" == 200 ]] && break
        ((i < 100)) || die "$sys answered ${code:-nothing} to $url (logs in $work)"
        sleep 0.1
    done
    curl -sk -o /dev/null -H "Host: $host" "$url"
    hdrs="$(curl -sk -o /dev/null -D - -H "Host: $host" "$url" | tr -d '\r')"
    case "$sys" in
        varnish) grep -Eqi '^x-varnish: [0-9]+ [0-9]+$' <<< "$hdrs" ;;
        nginx) grep -qi '^x-cache-status: hit' <<< "$hdrs" ;;
        edgegate) grep -qi '^x-cache: hit from cloudfront' <<< "$hdrs" ;;
    esac || die "$sys did not serve $url from its cache after warming it: $hdrs"
}
log "warming every cache over TLS"
for sys in "${systems[@]}"; do
    for o in obj-1k.bin obj-64k.bin; do warm_and_check "$sys" "$o"; done
done

# What each system negotiates: with OpenSSL's client defaults (as wrk, which offers no ALPN),
# with h2load's, and whether a session resumes (openssl s_client -sess_out / -sess_in).
negotiated() { # system -> "wrk: ... ; h2load: ... ; resumption: ..."
    local p out h2 resumed
    p="$(port_of "$1")"
    # (TLS 1.3 sends its session tickets after the handshake: stay connected a moment to get them.)
    out="$(sleep 0.3 | openssl s_client -connect "127.0.0.1:$p" -servername "$host" \
        -sess_out "$work/tls/$1.sess" 2>&1 | tr -d '\r')"
    local w
    w="$(awk '/^New, TLS/ {sub(/,$/, "", $2); v = $2 " " $5} /^(Server|Peer) Temp Key:/ {sub(/,$/, "", $4); g = $4}
              END {print v, g}' <<< "$out")"
    resumed="$(sleep 0.3 | openssl s_client -connect "127.0.0.1:$p" -servername "$host" \
        -sess_in "$work/tls/$1.sess" 2>&1 | grep -c '^Reused' || true)"
    h2="$(h2load -n1 -c1 -H ":authority: $host" "$(url_of "$1" obj-1k.bin)" 2>&1 |
        awk -F': ' '/^TLS Protocol|^Cipher|^Server Temp Key|^Application protocol/ {print $2}' | tr '\n' ' ')"
    echo "$w | ${h2% } | $( ((resumed)) && echo yes || echo **no**)"
}

# ---------------------------------------------------------------- measuring
# wrk over HTTPS (HTTP/1.1) -> "rps p99_ms"
run_wrk() { # system object
    local out
    out="$(wrk -t2 -c50 -d"${secs}s" --latency -H "Host: $host" "$(url_of "$1" "$2")" 2>&1)" ||
        die "wrk against $1 failed: $out"
    grep -qE 'Non-2xx|Socket errors' <<< "$out" && die "wrk against $1 saw errors: $out"
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                          if (v ~ /s$/) return v * 1000; return v }
         /Requests\/sec/ {rps = $2} /^ +99%/ {p99 = ms($2)}
         END {printf "%.0f %.3f\n", rps, p99}' <<< "$out"
}
# h2load over HTTPS, HTTP/2 by ALPN -> "rps p99_ms" (p99 over its per-request log, in µs)
run_h2() { # system object
    local out logf="$work/h2.log"
    rm -f "$logf"
    out="$(h2load -t2 -c"$h2c" -m"$h2m" -D "$secs" --warm-up-time=1 --log-file="$logf" \
        -H ":authority: $host" "$(url_of "$1" "$2")" 2>&1)" || die "h2load against $1 failed: $out"
    grep -q '^Application protocol: h2' <<< "$out" || die "h2load did not speak h2 to $1: $out"
    local rps p99
    rps="$(awk '/^finished in/ {print $4} /^status codes:/ {bad = $7 + $9}
               /^requests:/ {ok = $8} END {if (ok + 0 == 0 || bad + 0 > 0) print "FAIL"}' <<< "$out" | head -1)"
    [[ "$rps" != FAIL ]] || die "h2load against $1 saw failures: $out"
    p99="$(awk -F'\t' '$2 == 200 {print $3}' "$logf" | sort -n |
        awk '{a[NR] = $1} END {i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; printf "%.3f", a[i] / 1000}')"
    echo "${rps%%.*} $p99"
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
busy_start="$(ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|ld|lld|clippy-driver)$' || true)"
declare -A R # R[proto,size,system,round] = "rps p99"
sizes=(1k 64k)
for r in $(seq "$rounds"); do
    for sz in "${sizes[@]}"; do
        for sys in "${systems[@]}"; do
            log "round $r/$rounds: $sz HTTPS HTTP/1.1 hits, $sys"
            R[h1,$sz,$sys,$r]="$(run_wrk "$sys" "obj-$sz.bin")"
            log "round $r/$rounds: $sz HTTPS HTTP/2 hits, $sys"
            R[h2,$sz,$sys,$r]="$(run_h2 "$sys" "obj-$sz.bin")"
        done
    done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
busy_end="$(ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|ld|lld|clippy-driver)$' || true)"

col() { # proto size system field -> median over rounds
    local r
    for r in $(seq "$rounds"); do awk -v f="$4" '{print $f}' <<< "${R[$1,$2,$3,$r]}"; done | median
}
per_round() {
    local r out=()
    for r in $(seq "$rounds"); do out+=("$(awk '{print $1}' <<< "${R[$1,$2,$3,$r]}")"); done
    local IFS=/
    echo "${out[*]}" | sed 's|/| / |g'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "nan"; else printf "%.3f", a / b}'; }
held() { awk -v a="$1" -v b="$3" "BEGIN {print ((a + 0 $2 b + 0) ? \"yes\" : \"**no**\")}"; }

SUM=()
table() { # proto size
    local sys best=0 bestsys="" bp99
    echo "| system | req/s (median) | p99 ms | req/s per round |"
    echo "|---|---|---|---|"
    for sys in "${systems[@]}"; do
        echo "| $sys | $(col "$1" "$2" "$sys" 1) | $(col "$1" "$2" "$sys" 2) | $(per_round "$1" "$2" "$sys") |"
        if [[ $sys != edgegate ]] && awk -v a="$(col "$1" "$2" "$sys" 1)" -v b="$best" 'BEGIN {exit !(a > b)}'; then
            best="$(col "$1" "$2" "$sys" 1)" bestsys=$sys
        fi
    done
    bp99="$(col "$1" "$2" "$bestsys" 2)"
    local rr pr e99
    rr="$(ratio "$(col "$1" "$2" edgegate 1)" "$best")"
    e99="$(col "$1" "$2" edgegate 2)"
    pr="$(ratio "$e99" "$bp99")"
    echo
    echo "edgegate / best peer ($bestsys): req/s **$rr**, p99 $pr ($e99 vs $bp99 ms)"
    local label
    label="$2 HTTPS $([[ $1 == h1 ]] && echo HTTP/1.1 || echo HTTP/2)"
    SUM+=("| $label: req/s >= best peer | $rr x $bestsys | $(held "$rr" '>=' 1.0) | $e99 vs $bp99 ms |")
}

section="$(
    cat <<MD

## Cache hits over HTTPS ($(date -u +%Y-%m-%dT%H:%MZ)$( ((quick)) && echo ", --quick"))

Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r).
$(nginx -v 2>&1 | sed 's/.*: //'), $(varnishd -V 2>&1 | head -1 | grep -o 'varnish-[^ ]*'), hitch $(hitch --version 2>&1 | awk '{print $2}'), $(openssl version | awk '{print $1, $2}'), edgegate $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo '+changes').
Everything (origin, peers, edgegate, wrk/h2load) shares these cores on loopback. Load average
$load_start at the start, $load_end at the end; compiler processes running: $busy_start at the
start, $busy_end at the end$( ((busy_start + busy_end > 0)) && echo " (**other builds shared the cores during this run**)").
$rounds interleaved round(s) of ${secs} s per measurement; figures are medians over rounds.
Same self-signed P-256 (ECDSA) certificate for all; key exchange X25519 everywhere. Varnish runs
behind Hitch ($(nproc) workers, PROXY v2, ALPN h2/http1.1); nginx and edgegate terminate TLS
themselves. Configs: \`benches/peers/nginx-tls.conf.in\`, \`hitch.conf.in\`, \`varnish.vcl.in\`.

Negotiated (OpenSSL client defaults, as wrk | h2load's defaults | session resumption):

| system | wrk (version, cipher, group) | h2load (version, cipher, group, ALPN) | resumes |
|---|---|---|---|
$(for sys in "${systems[@]}"; do echo "| $sys | $(negotiated "$sys") |"; done)

$(for sz in "${sizes[@]}"; do
        echo "### $sz hits, HTTPS HTTP/1.1 (wrk -t2 -c50 --latency)"
        echo
        table h1 "$sz"
        echo
        echo "### $sz hits, HTTPS HTTP/2 (h2load -t2 -c$h2c -m$h2m)"
        echo
        table h2 "$sz"
        echo
    done)
MD
)"
SUM=()
for sz in "${sizes[@]}"; do table h1 "$sz" > /dev/null; table h2 "$sz" > /dev/null; done
section+=$'\n'"$(
    cat <<MD

### Summary

| target | edgegate / best peer | held? | p99, edgegate vs best peer |
|---|---|---|---|
$(printf '%s\n' "${SUM[@]}")
MD
)"
echo "$section"
results="$(results_file tls "Cache hits over HTTPS (benches/tls.sh)")"
echo "$section" >> "$results"
log "appended to ${results#"$root"/}"
