#!/usr/bin/env bash
# CloudFront Functions on the cache-hit path: 1 KiB hits through a trivial viewer-request
# function (it adds one header) against the same hits without a function, on one edgegate in
# one run (two distributions in front of the same nginx origin, runs interleaved), as a ratio;
# then the engine's own figures (examples/function_cost.rs: load time, memory held, µs per
# call) and, when valgrind is there, instructions per request with and without the function.
#
#   benches/functions.sh [BIN]
#
#   BIN defaults to target/release/edgegate. ROUNDS= (default 3), SECS= per wrk run (default
#   5), N= requests per callgrind case (default 4000; INSTRUCTIONS=0 skips that part). Needs
#   nginx, wrk, curl (installed when missing) and the AWS CLI of tests/.venv
#   (scripts/setup-test-env), which deploys the function as a user would.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
rounds="${ROUNDS:-3}" secs="${SECS:-5}" n="${N:-4000}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=functions
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
need nginx:nginx wrk:wrk curl:curl h2load:nghttp2-client
aws="$root/tests/.venv/bin/aws"
[[ -x $aws ]] || die "no AWS CLI at $aws: run scripts/setup-test-env"
bin="$(edgegate_bin "${1:-}")"
mkdir -p "$work/site"
head -c 1024 /dev/urandom > "$work/site/obj-1k.bin"
start_origin

cat > "$work/add-header.js" <<'JS'
function handler(event) {
    event.request.headers['x-fn'] = { value: '1' };
    return event.request;
}
JS

cf() { # admin-url args...
    local ep="$1"
    shift
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1 \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" \
        "$aws" --endpoint-url "$ep" cloudfront "$@" --output json
}

runner=()
start() { # label [serve args...] -> sets PID VIEWER ADMIN FN_HOST
    local label="$1"
    shift
    "${runner[@]}" "$bin" serve --config "$work/edgegate.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --data-dir "$work/$label" "$@" > "$work/$label.out" 2> "$work/$label.err" &
    PID=$!
    pids+=("$PID")
    local _ line
    for _ in $(seq 1200); do grep -q "viewer=" "$work/$label.out" 2>/dev/null && break; sleep 0.1; done
    line="$(grep -o 'viewer=http://[^ ]* admin=http://[^ ]*' "$work/$label.out")" || die "$label did not start"
    VIEWER="${line%% *}"; VIEWER="${VIEWER#viewer=http://}"
    ADMIN="${line##*admin=}"
    # The function, created and published with the AWS CLI, on a second distribution.
    local etag arn
    etag="$(cf "$ADMIN" create-function --name add-header \
        --function-config Comment=bench,Runtime=cloudfront-js-2.0 \
        --function-code "fileb://$work/add-header.js" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ETag"])')"
    arn="$(cf "$ADMIN" publish-function --name add-header --if-match "$etag" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["FunctionSummary"]["FunctionMetadata"]["FunctionARN"])')"
    cat > "$work/$label-dist.json" <<JSON
{"CallerReference": "bench-fn-$label", "Comment": "bench", "Enabled": true,
 "Origins": {"Quantity": 1, "Items": [{"Id": "origin", "DomainName": "127.0.0.1",
   "CustomOriginConfig": {"HTTPPort": $origin_port, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
 "DefaultCacheBehavior": {"TargetOriginId": "origin", "ViewerProtocolPolicy": "allow-all",
   "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
   "FunctionAssociations": {"Quantity": 1, "Items": [{"FunctionARN": "$arn", "EventType": "viewer-request"}]}}}
JSON
    FN_HOST="$(cf "$ADMIN" create-distribution --distribution-config "file://$work/$label-dist.json" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Distribution"]["DomainName"])')"
    for h in "$host" "$FN_HOST"; do for _ in 1 2 3; do
        curl -sf -o /dev/null -H "Host: $h" "http://$VIEWER/obj-1k.bin" || die "$label: $h does not serve"
    done; done
}

wrk_run() { # host -> "rps p99ms"
    local out
    out="$(wrk -t2 -c50 -d"${secs}s" --latency -H "Host: $1" "http://$VIEWER/obj-1k.bin" 2>&1)"
    grep -q 'Non-2xx' <<< "$out" && die "non-2xx: $out"
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                          if (v ~ /s$/) return v * 1000; return v }
         /Requests\/sec/ {rps = $2} /^ +99%/ {p99 = ms($2)}
         END {printf "%.0f %.3f\n", rps, p99}' <<< "$out"
}
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

start hits
echo "| round | no function req/s | with function req/s | with/without | p99 ms without | p99 ms with |"
echo "|---|---|---|---|---|---|"
ratios=""
for r in $(seq "$rounds"); do
    if ((r % 2)); then a="$(wrk_run "$host")"; b="$(wrk_run "$FN_HOST")"
    else b="$(wrk_run "$FN_HOST")"; a="$(wrk_run "$host")"; fi
    read -r aq ap <<< "$a"; read -r bq bp <<< "$b"
    q="$(awk -v a="$aq" -v b="$bq" 'BEGIN {printf "%.3f", b / a}')"
    ratios+="$q"$'\n'
    echo "| $r | $aq | $bq | $q | $ap | $bp |"
done
echo
echo "median with/without req/s (1 KiB hits): $(printf '%s' "$ratios" | median)"
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true

echo
(cd "$root" && cargo run --release --locked -q --example function_cost)

if [[ "${INSTRUCTIONS:-1}" != 0 ]] && command -v valgrind > /dev/null; then
    count() { # label host -> instructions per request
        local out="$work/$1.cg" p
        callgrind_control -z "$PID" > /dev/null 2>&1
        local codes
        codes="$(h2load --h1 -n "$n" -c 4 -H ":authority: $2" "http://$VIEWER/obj-1k.bin" |
            awk '/^status codes:/ {print $3}')"
        [[ "$codes" == "$n" ]] || die "$1: $codes of $n requests got a 2xx"
        callgrind_control -d "$PID" > /dev/null 2>&1
        p="$(ls -t "$work"/cg.out* | head -n 1)"
        callgrind_annotate "$p" 2>/dev/null | awk -v n="$n" '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "%.0f\n", $1 / n; exit}'
        rm -f "$work"/cg.out*
    }
    runner=(valgrind --tool=callgrind "--callgrind-out-file=$work/cg.out" --dump-instr=no -q)
    start callgrind --workers 1
    echo
    echo "instructions per 1 KiB hit, no function: $(count plain "$host")"
    echo "instructions per 1 KiB hit, with function: $(count fn "$FN_HOST")"
fi
