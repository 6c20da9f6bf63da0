#!/usr/bin/env bash
# The disk cache tier (issue 25), side by side with nginx proxy_cache on disk, in one run:
#
#   (1) churn: 1,024 objects of 256 KiB (256 MiB) requested uniformly at random, a working set
#       4 x the memory tier (--cache-size 64MiB) that fits the disk tier (--disk-cache-size
#       512MiB), against nginx proxy_cache with max_size=512m; WARM_SECS of warm-up, then
#       CHURN_SECS measured: hit ratio (from the origin's log), req/s and p99;
#   (2) disk hits of a 1 MiB object: edgegate with a 4 MiB memory tier (objects above 512 KiB
#       stay on disk only, so every hit is read from the disk tier) against nginx proxy_cache;
#   (3) restart with the warm disk tier of (1): time from exec until the edge serves, the index
#       load time it reports, and how many of the first 64 distinct requests are hits;
#   (4) the index load of INDEX_OBJECTS (default 100,000) files of 512 bytes, written directly in
#       the tier's file format: load time and time until serving;
#   (5) disk hits of a 1 GiB object: edgegate with a 64 MiB memory tier and an 8 GiB disk tier
#       (the object is filled to its file while streamed, and stays on disk only) against nginx
#       proxy_cache (max_size=8g), wrk -t2 -c4 --timeout 60s for BIG_SECS (default 20): req/s,
#       GiB/s and p99, and the peak RSS of both (edgegate's must stay far below 1 GiB).
#       BIG=0 skips it (it needs 3 GiB of free disk).
#
#   benches/disk.sh [BIN]
#
#   WARM_SECS= (default 20), CHURN_SECS= (default 60), SECS= per wrk run in (2) (default 10),
#   ROUNDS= of (2) (default 3), INDEX_OBJECTS= of (4), BIG=0 / BIG_SECS= of (5). BIN is the
#   edgegate binary (default: a release build of this repository). CHURN_ONLY=1 runs (1) only;
#   PERF=1 also samples edgegate with perf during one more churn run (the data's path is
#   printed). Needs nginx, wrk and curl (installed when missing, as root). Prints markdown
#   tables and appends them to benches/results/YYYY-MM-DD-disk.md.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,27p' "$0"; exit 0; }
warm_secs="${WARM_SECS:-20}" churn_secs="${CHURN_SECS:-60}" secs="${SECS:-10}" rounds="${ROUNDS:-3}"
big="${BIG:-1}" big_secs="${BIG_SECS:-20}"
index_objects="${INDEX_OBJECTS:-100000}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=disk
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
need nginx:nginx wrk:wrk curl:curl
bin="$(edgegate_bin "${1:-}")"

objects=1024
mkdir -p "$work/site/churn"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
head -c 1048576 /dev/urandom > "$work/site/obj-1m.bin"
((big)) && head -c 1073741824 /dev/urandom > "$work/site/obj-1g.bin"
head -c 262144 /dev/urandom > "$work/churn-256k.bin"
for i in $(seq 0 $((objects - 1))); do ln "$work/churn-256k.bin" "$work/site/churn/o-$i.bin"; done
start_origin
origin_count() { grep -c -- "$1" "$work/origin/access.log" || true; }

start_edgegate() { # name [flags...] -> sets PID PORT ADMIN and STARTUP_MS
    local name="$1" line t0
    shift
    mkdir -p "$work/$name"
    t0="$(date +%s%N)"
    "$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 \
        --admin-listen 127.0.0.1:0 --data-dir "$work/$name/data" "$@" \
        > "$work/$name/out.txt" 2> "$work/$name/err.txt" &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 2000); do grep -q "viewer=" "$work/$name/out.txt" 2>/dev/null && break; sleep 0.01; done
    STARTUP_MS=$((($(date +%s%N) - t0) / 1000000))
    line="$(grep -o 'viewer=http://[^ ]*' "$work/$name/out.txt")" || die "edgegate $name did not start"
    PORT="${line##*:}"
    line="$(grep -o 'admin=http://[^ ]*' "$work/$name/out.txt")"
    ADMIN="${line##*:}"
}
start_nginx() { # name max-size -> sets PORT
    local dir="$work/$1"
    mkdir -p "$dir/cache"
    PORT="$(port)"
    cat > "$dir/nginx.conf" <<EOF
$user_line
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
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    proxy_cache_path $dir/cache levels=1:2 keys_zone=edge:16m max_size=$2 inactive=1d use_temp_path=off;
    server {
        listen 127.0.0.1:$PORT reuseport;
        location / {
            proxy_pass http://127.0.0.1:$origin_port;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_valid 200 1h;
        }
    }
}
EOF
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
    pids+=("$!")
    for _ in $(seq 100); do
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$PORT/obj-1k.bin" && return 0
        sleep 0.1
    done
    die "nginx $1 did not start: see $dir/error.log"
}
metric() { # admin-port name
    curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}
churn() { # port secs -> "requests req/s p99-ms misses"
    local before out
    before="$(origin_count /churn/)"
    out="$(wrk -t2 -c50 -d"${2}s" --latency -H "Host: $host" -s "$peers/random-path.lua" \
        "http://127.0.0.1:$1/" -- "$objects" 2>&1)" || die "wrk (churn) failed: $out"
    grep -q 'Non-2xx' <<< "$out" && die "churn saw non-2xx answers: $out"
    awk -v m="$(($(origin_count /churn/) - before))" '
         function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                          if (v ~ /s$/) return v * 1000; return v }
         /requests in/ {n = $1} /Requests\/sec/ {rps = $2} /^ +99%/ {p99 = ms($2)}
         END {printf "%d %.0f %.3f %d\n", n, rps, p99, m}' <<< "$out"
}
hit_ratio() { awk -v n="$1" -v m="$2" 'BEGIN {printf "%.3f", (n > 0) ? 1 - m / n : 0}'; }

out="$work/report.md"
{
    echo "## disk.sh, $(date -u '+%F %H:%M') UTC"
    echo
    echo "$(nproc) cores, $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg);" \
        "edgegate $(git -C "$root" rev-parse --short HEAD 2>/dev/null), $(nginx -v 2>&1 | sed 's/.*: //');" \
        "WARM_SECS=$warm_secs CHURN_SECS=$churn_secs SECS=$secs ROUNDS=$rounds; file system of" \
        "the caches: $(df -T "$work" | awk 'NR == 2 {print $2}')"
    echo
} > "$out"

# --- (1) churn ---
disk="$work/edge-disk"
start_edgegate churn --cache-size 64MiB --disk-cache "$disk" --disk-cache-size 512MiB
pe=$PORT; pe_admin=$ADMIN; churn_pid=$PID
start_nginx proxy 512m; pn=$PORT
churn "$pe" "$warm_secs" > /dev/null
churn "$pn" "$warm_secs" > /dev/null
read -r en erps ep99 em <<< "$(churn "$pe" "$churn_secs")"
read -r nn nrps np99 nm <<< "$(churn "$pn" "$churn_secs")"
entries="$(metric "$pe_admin" edgegate_disk_cache_entries)"
used="$(metric "$pe_admin" edgegate_disk_cache_bytes)"
dhits="$(curl -s "http://127.0.0.1:$pe_admin/metrics" | awk '/^edgegate_cache_tier_hits_total\{tier="disk"\}/ {print $2}')"
mhits="$(curl -s "http://127.0.0.1:$pe_admin/metrics" | awk '/^edgegate_cache_tier_hits_total\{tier="memory"\}/ {print $2}')"
hwm="$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$churn_pid/status")"
threads="$(awk '/^Threads:/ {print $2}' "/proc/$churn_pid/status")"
{
    echo "### (1) churn: 1,024 x 256 KiB uniformly at random, memory 64 MiB, disk 512 MiB (${warm_secs} s warm-up, ${churn_secs} s measured, wrk -t2 -c50)"
    echo
    echo "| system | hit ratio | req/s | p99 ms |"
    echo "|---|---|---|---|"
    echo "| edgegate (memory + disk tier) | $(hit_ratio "$en" "$em") | $erps | $ep99 |"
    echo "| nginx proxy_cache (disk, max_size=512m) | $(hit_ratio "$nn" "$nm") | $nrps | $np99 |"
    echo
    echo "edgegate after the run: $entries objects on disk ($used bytes), hits by tier since start:" \
        "memory $mhits, disk $dhits; peak RSS $hwm MiB; $threads threads."
    echo
} >> "$out"
if [[ -n "${PERF:-}" ]]; then
    perf record -g -o "$work/perf.data" -p "$churn_pid" -- sleep 10 > /dev/null 2>&1 &
    pp=$!
    churn "$pe" 10 > /dev/null
    wait "$pp" || true
    cp "$work/perf.data" "${TMPDIR:-/tmp}/disk-churn-perf.data"
    echo "perf samples: ${TMPDIR:-/tmp}/disk-churn-perf.data"
fi
if [[ -n "${CHURN_ONLY:-}" ]]; then
    cat "$out"
    cat "$out" >> "$(results_file disk "The disk cache tier (benches/disk.sh)")"
    exit 0
fi

# --- (3) restart with the warm disk tier (before (2), while the tier of (1) is warm) ---
kill -TERM "$churn_pid"; wait "$churn_pid" 2>/dev/null || true
start_edgegate restart --cache-size 64MiB --disk-cache "$disk" --disk-cache-size 512MiB
pr=$PORT; pr_admin=$ADMIN; restart_ms=$STARTUP_MS; restart_pid=$PID
first_hits=0
for i in $(seq 0 63); do
    xc="$(curl -s -o /dev/null -w '%header{x-cache}' -H "Host: $host" "http://127.0.0.1:$pr/churn/o-$i.bin")"
    [[ $xc == Hit* ]] && first_hits=$((first_hits + 1))
done
{
    echo "### (3) restart with the warm disk tier of (1)"
    echo
    echo "| objects on disk | index load (reported) | exec until serving | hits among the first 64 distinct requests |"
    echo "|---|---|---|---|"
    echo "| $(metric "$pr_admin" edgegate_disk_cache_entries) | $(metric "$pr_admin" edgegate_disk_cache_load_seconds) s | $restart_ms ms | $first_hits / 64 |"
    echo
    echo "(Objects evicted from the disk tier during (1) are misses; a hit ratio near 1 after warm-up means nearly all 1,024 are on disk.)"
    echo
} >> "$out"
kill -TERM "$restart_pid"; wait "$restart_pid" 2>/dev/null || true

# --- (2) disk hits of 1 MiB ---
start_edgegate hits1m --cache-size 4MiB --disk-cache "$work/edge-disk-1m" --disk-cache-size 64MiB
ph=$PORT; ph_admin=$ADMIN
start_nginx proxy1m 64m; pn1=$PORT
for p in "$ph" "$pn1"; do for _ in 1 2 3; do
    curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p/obj-1m.bin"
done; done
{
    echo "### (2) disk hits of a 1 MiB object (wrk -t2 -c50, ${secs} s per run; edgegate --cache-size 4MiB, so the object stays on disk only)"
    echo
    echo "| round | edgegate req/s | p99 ms | nginx proxy_cache req/s | p99 ms | ratio |"
    echo "|---|---|---|---|---|---|"
} >> "$out"
ratios=""
for r in $(seq "$rounds"); do
    read -r eq ep <<< "$(wrk_run "$ph" /obj-1m.bin)"
    read -r nq np <<< "$(wrk_run "$pn1" /obj-1m.bin)"
    ratio="$(awk -v a="$eq" -v b="$nq" 'BEGIN {printf "%.3f", a / b}')"
    ratios+="$ratio"$'\n'
    echo "| $r | $eq | $ep | $nq | $np | $ratio |" >> "$out"
done
{
    echo
    echo "Median edgegate / nginx: **$(printf '%s' "$ratios" | median)**; disk hits counted by" \
        "edgegate: $(curl -s "http://127.0.0.1:$ph_admin/metrics" | awk '/^edgegate_cache_tier_hits_total\{tier="disk"\}/ {print $2}'), sent with sendfile: $(metric "$ph_admin" edgegate_sendfile_bytes_total) bytes."
    echo
} >> "$out"
# --- (4) index load of INDEX_OBJECTS files (written directly in the tier's format) ---
index_dir="$work/edge-index"
python3 - "$index_dir/objects" "$index_objects" <<'EOF2'
import os, struct, sys, time, zlib
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
now = int(time.time() * 1000)
body = os.urandom(512)
def lp(b):
    return struct.pack("<I", len(b)) + b
for i in range(n):
    path = f"/objects/{i}".encode()
    head = lp(b"bench-key|" + path) + lp(b"EBENCH0000001") + lp(path) + struct.pack("<H", 200)
    head += struct.pack("<8Q", now, now, 86_400_000, 0, 0, 0, 0, len(body))
    head += struct.pack("<I", 1) + lp(b"content-type") + lp(b"application/octet-stream")
    data = b"EGDISK01" + struct.pack("<I", len(head)) + head + struct.pack("<I", zlib.crc32(head))
    data += body + struct.pack("<IQ", zlib.crc32(body), len(body)) + b"EGDISKOK"
    with open(os.path.join(out, f"{i + 1:016x}"), "wb") as f:
        f.write(data)
EOF2
# The page cache is left as writing them left it (dropping it would slow every other process
# on the machine).
cold="page cache warm from writing them"
start_edgegate index --disk-cache "$index_dir" --disk-cache-size 10GiB
{
    echo "### (4) index load of $index_objects objects of 512 bytes ($cold)"
    echo
    echo "| objects loaded | index load (reported) | exec until serving |"
    echo "|---|---|---|"
    echo "| $(metric "$ADMIN" edgegate_disk_cache_entries) | $(metric "$ADMIN" edgegate_disk_cache_load_seconds) s | $STARTUP_MS ms |"
    echo
} >> "$out"

# --- (5) disk hits of a 1 GiB object ---
if ((big)); then
    start_edgegate hits1g --cache-size 64MiB --disk-cache "$work/edge-disk-1g" --disk-cache-size 8GiB
    pg=$PORT; pg_admin=$ADMIN; pg_pid=$PID
    start_nginx proxy1g 8g; png=$PORT
    fill_ms=()
    for p in "$pg" "$png"; do
        t0="$(date +%s%N)"
        curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p/obj-1g.bin"
        fill_ms+=("$((($(date +%s%N) - t0) / 1000000))")
        for _ in 1 2; do curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$p/obj-1g.bin"; done
    done
    big_run() { # port -> "req/s GiB/s p99-ms"
        local out
        out="$(wrk -t2 -c4 -d"${big_secs}s" --timeout 60s --latency -H "Host: $host" \
            "http://127.0.0.1:$1/obj-1g.bin" 2>&1)" || die "wrk (1 GiB) failed: $out"
        grep -q 'Non-2xx' <<< "$out" && die "non-2xx: $out"
        awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                              if (v ~ /s$/) return v * 1000; return v }
             function gib(v) { if (v ~ /GB$/) return v + 0; if (v ~ /MB$/) return v / 1024;
                               if (v ~ /KB$/) return v / 1048576; return v / 1073741824 }
             /Requests\/sec/ {rps = $2} /Transfer\/sec/ {t = gib($2)} /^ +99%/ {p99 = ms($2)}
             END {printf "%.2f %.2f %.0f\n", rps, t, p99}' <<< "$out"
    }
    read -r gq gt gp <<< "$(big_run "$pg")"
    read -r nq nt np <<< "$(big_run "$png")"
    ghwm="$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$pg_pid/status")"
    nhwm="$(for f in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' < "$f" 2>/dev/null | grep -q "$work/proxy1g/nginx.conf" || continue
        d="${f%/cmdline}"; awk '/^VmHWM:/ {print $2}' "$d/status"
    done | sort -n | tail -1 | awk '{printf "%.0f", $1 / 1024}')"
    {
        echo "### (5) disk hits of a 1 GiB object (wrk -t2 -c4 --timeout 60s, ${big_secs} s; edgegate --cache-size 64MiB --disk-cache-size 8GiB, nginx max_size=8g)"
        echo
        echo "| system | first fill (miss) ms | req/s | GiB/s | p99 ms | peak RSS MiB |"
        echo "|---|---|---|---|---|---|"
        echo "| edgegate (disk tier, sendfile) | ${fill_ms[0]} | $gq | $gt | $gp | $ghwm |"
        echo "| nginx proxy_cache (disk) | ${fill_ms[1]} | $nq | $nt | $np | $nhwm (largest process) |"
        echo
        echo "edgegate / nginx: **$(awk -v a="$gq" -v b="$nq" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}')**;" \
            "disk hits counted by edgegate: $(curl -s "http://127.0.0.1:$pg_admin/metrics" | awk '/^edgegate_cache_tier_hits_total\{tier="disk"\}/ {print $2}')," \
            "sent with sendfile: $(metric "$pg_admin" edgegate_sendfile_bytes_total) bytes; load after: $(cut -d' ' -f1-3 /proc/loadavg)."
        echo
    } >> "$out"
    kill -TERM "$pg_pid"; wait "$pg_pid" 2>/dev/null || true
fi

cat "$out"
cat "$out" >> "$(results_file disk "The disk cache tier (benches/disk.sh)")"
