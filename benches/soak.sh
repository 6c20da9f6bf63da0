#!/usr/bin/env bash
# Soak (issue 26, item 6): mixed load for a long while, ending with a SIGKILL and a restart.
#
#   benches/soak.sh [--minutes M] [BIN]     (default 10 minutes; BIN: the edgegate binary,
#                                            default a release build of this tree)
#
# edgegate runs in front of the static nginx origin of benches/peers, with access logs for its
# distribution delivered every 30 s to a bucket in LocalStack's S3 (started on 127.0.0.1:4566 if
# it is not running). benches/soak.py drives it for M minutes: eight viewer loops (cache hits,
# misses over 2,000 objects, valid signed URLs, refused unsigned ones), cache policies created,
# updated and deleted through the API every 0.5 s and an invalidation every 15 s, sampling the edge's resident memory
# every 5 s. Then the viewers stop, and 1.5 s later the edge is SIGKILLed while API changes are
# still being made. It is restarted on the same data directory: every acknowledged API change
# must be there; 20 s more of the same load; a SIGTERM (which delivers the last logs). Last, the
# responses the client counted must equal, exactly, the journal's records, the usage report's
# requests and the lines of the access logs in S3 (so nothing was lost or counted twice across
# the kill). Reports resident memory after warm-up (the first fifth of the run, at least a
# minute) and its slope; prints the figures and appends them to
# benches/results/YYYY-MM-DD-soak.md. Exits non-zero when a check fails.
#
# Loopback only; bounded by M minutes plus about a minute; stops everything it started (not
# LocalStack, which the tests share). Needs nginx, curl and python3; tests/.venv (boto3) is set
# up by scripts/setup-test-env.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
minutes=10
bin_arg=""
while (($#)); do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --minutes=*) minutes="${1#*=}"; shift ;;
        -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
        *) bin_arg="$1"; shift ;;
    esac
done
[[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak.sh: --minutes takes a number" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=soak
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
need nginx:nginx-light curl:curl python3:python3
"$root/scripts/setup-test-env" > /dev/null
py="$root/tests/.venv/bin/python"
"$root/localstack/start.sh" > /dev/null
s3="http://127.0.0.1:4566"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
bin="$(edgegate_bin "$bin_arg")"
secs="$(awk -v m="$minutes" 'BEGIN {printf "%d", m * 60}')"
warmup="$(awk -v s="$secs" 'BEGIN {w = s / 5; if (w < 60) w = 60; if (w > s / 2) w = s / 2; printf "%d", w}')"

mkdir -p "$work/site/m" "$work/site/signed"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
cp "$work/site/obj-1k.bin" "$work/site/signed/obj-1k.bin"
for i in $(seq 0 1999); do head -c 2048 /dev/urandom > "$work/site/m/$i.bin"; done
start_origin

bucket="edgegate-soak-$(date +%s)-$$"
"$py" -c 'import boto3, sys; boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").create_bucket(Bucket=sys.argv[2])' "$s3" "$bucket"
sed -i "0,/^enabled = true$/s||enabled = true\nlogging = { enabled = true, include_cookies = false, bucket = \"$bucket.s3.amazonaws.com\", prefix = \"soak/\" }|" "$work/edgegate.toml"
grep -q "^logging = " "$work/edgegate.toml" || die "could not add logging to the config"

vport="$(port)" aport="$(port)"
creds="soakadmin:soak-secret-$$"
data="$work/data"
eg_pid=""
start_edge() { # log-suffix
    "$bin" serve --config "$work/edgegate.toml" --listen "127.0.0.1:$vport" \
        --admin-listen "127.0.0.1:$aport" --admin-credentials "$creds" --data-dir "$data" \
        --s3-endpoint "$s3" --log-delivery-interval 30 \
        > "$work/out-$1.txt" 2> "$work/err-$1.txt" &
    eg_pid=$!
    pids+=("$eg_pid")
    local _
    for _ in $(seq 300); do
        grep -q "viewer=" "$work/out-$1.txt" 2> /dev/null && return 0
        kill -0 "$eg_pid" 2> /dev/null || break
        sleep 0.1
    done
    die "edgegate did not start: $(tail -5 "$work/err-$1.txt")"
}

signed="$(for i in $(seq 20); do
    "$bin" sign url --url "http://$host/signed/obj-1k.bin?v=$i" --key-pair-id KBENCH0000001 \
        --private-key "$root/keys/demo-private.pem" --expires 2099-01-01T00:00:00Z |
        sed "s|^http://$host||"
done | "$py" -c 'import json, sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()]))')"

start_edge first
state="$work/state.json"
"$py" - "$state" <<PY
import json, sys
json.dump({"viewer_port": $vport, "admin_port": $aport, "host": "$host", "pid": $eg_pid,
           "admin_credentials": "$creds", "distribution": "EBENCH0000001", "bucket": "$bucket",
           "s3_endpoint": "$s3", "signed_urls": $signed, "warmup": $warmup}, open(sys.argv[1], "w"))
PY
started="$(date -u +%FT%TZ)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "soak: $minutes min of mixed load (warm-up $warmup s), then SIGKILL and restart" >&2
"$py" "$root/benches/soak.py" load "$state" "$secs" --kill >&2
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
wait "$eg_pid" 2> /dev/null || true

start_edge second
"$py" - "$state" "$eg_pid" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["pid"] = int(sys.argv[2]); json.dump(s, open(sys.argv[1], "w"))
PY
"$py" "$root/benches/soak.py" check "$state" >&2
"$py" "$root/benches/soak.py" load "$state" 20 >&2
kill -TERM "$eg_pid"
wait "$eg_pid" 2> /dev/null || true

set +e
report="$("$py" "$root/benches/soak.py" tally "$state" "$data" "$bin")"
ok=$?
set -e
echo "$report"
table="$("$py" -c '
import json, sys
r = json.loads(sys.argv[1])
a = r["after_restart"] or {}
b = r["phases"][0]
print("| measure | value |")
print("|---|---|")
for k, v in [
    ("viewer requests (before the kill / after the restart)",
     "{} / {}".format(b["counts"]["sent"], r["phases"][-1]["counts"]["sent"])),
    ("  hits / misses / signed / refused (before the kill)",
     "{hit} / {miss} / {signed} / {refused}".format(**b["counts"])),
    ("  answers not as expected / requests that could not be sent",
     "{} / {}".format(sum(p["counts"]["unexpected"] for p in r["phases"]),
                      sum(p["counts"]["not_sent"] for p in r["phases"]))),
    ("journal records / usage report requests / access-log lines in S3",
     "{} / {} / {}".format(r["journal_records"], r["usage_requests"], r["log_lines"])),
    ("every response counted exactly once", "yes" if r["counted_once"] else "**no**"),
    ("access-log files delivered", r["log_files"]),
    ("API changes acknowledged before the kill (creations, updates, deletions, invalidations)",
     a.get("api_acked")),
    ("  checked after the restart: live policies with their last Comment / deleted / invalidations",
     "{} / {} / {}".format(a.get("live_policies"), a.get("deleted_policies"),
                           a.get("acked_invalidations"))),
    ("  missing, stale or back after the SIGKILL and restart",
     len(a.get("missing_policies", [])) + len(a.get("resurrected_policies", []))
     + len(a.get("missing_invalidations", []))),
    ("RSS at start / after warm-up / at the end / max (MiB)",
     "{} / {} / {} / {}".format(r["rss_first_mib"], r["rss_after_warmup_mib"],
                                r["rss_last_mib"], r["rss_max_mib"])),
    ("RSS slope after warm-up (KiB per minute)", r["rss_slope_kib_per_min"]),
]:
    print("| {} | {} |".format(k, v))
' "$report")"
echo "$table"
file="$(results_file soak "Soak: mixed load, SIGKILL and restart (benches/soak.sh)")"
{
    echo
    echo "## $started, $minutes min, on $(nproc) cores, $(uname -r)"
    echo
    echo "edgegate $("$bin" --version | awk '{print $2}') ($(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown));"
    echo "load average $load_before at the start, $load_end at the kill. Warm-up $warmup s."
    echo
    echo "$table"
} >> "$file"
echo "appended to ${file#"$root"/}" >&2
exit "$ok"
