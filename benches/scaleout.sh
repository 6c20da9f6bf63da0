#!/usr/bin/env bash
# Many edges, one bucket: how long a change made through one edge takes to be served by every
# edge, against the poll interval, and how many S3 requests an idle edge makes.
#
#   benches/scaleout.sh [BIN]
#
#   BIN defaults to a release build of this repository. POLL= seconds between polls (default 2),
#   CHANGES= number of changes timed (default 40), IDLE= seconds of idle counting (default 60).
#   Needs LocalStack (localstack/start.sh, started when down) and tests/.venv
#   (scripts/setup-test-env) for boto3.
#
# Three edges (--state s3://BUCKET/state) each talk to S3 through their own counting proxy in
# front of LocalStack, so every request of every edge is counted. A change is an
# UpdateDistribution of the OriginPath through edge A, B or C in turn; its time is from the
# moment the API answered to the moment the last edge served a new path with the new
# OriginPath (each edge polled every 20 ms with a path it has never cached).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=scaleout
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
py="$root/tests/.venv/bin/python"
[[ -x $py ]] || die "no Python at $py: run scripts/setup-test-env"
bin="$(edgegate_bin "${1:-}")"
"$root/localstack/start.sh" 4566 >/dev/null

POLL="${POLL:-2}" CHANGES="${CHANGES:-40}" IDLE="${IDLE:-60}" BIN="$bin" WORK="$work" \
    exec "$py" - <<'PY'
import http.client, http.server, json, os, socket, statistics, subprocess, threading, time
import boto3, botocore

poll, changes, idle = int(os.environ["POLL"]), int(os.environ["CHANGES"]), int(os.environ["IDLE"])
work, binary = os.environ["WORK"], os.environ["BIN"]
s3_port = 4566

class Origin(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"origin:{self.path}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "max-age=3600")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass

def counting_proxy():
    """A proxy in front of LocalStack counting requests by method."""
    counts = {}
    lock = threading.Lock()
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def handle_any(self):
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else None
            with lock:
                counts[self.command] = counts.get(self.command, 0) + 1
            c = http.client.HTTPConnection("127.0.0.1", s3_port, timeout=30)
            c.request(self.command, self.path, body=body, headers=dict(self.headers))
            r = c.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            c.close()
        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1], counts, lock

origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
threading.Thread(target=origin.serve_forever, daemon=True).start()

creds = dict(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
bucket = f"scaleout-bench-{os.getpid()}-{int(time.time())}"
boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3_port}", **creds).create_bucket(Bucket=bucket)

env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
           AWS_EC2_METADATA_DISABLED="true", RUST_LOG="warn")
edges = []
for name in "abc":
    port, counts, lock = counting_proxy()
    d = os.path.join(work, name)
    os.makedirs(d)
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                          "--metering", "off", "--workers", "1", "--pop", name,
                          "--state", f"s3://{bucket}/state", "--s3-endpoint", f"http://127.0.0.1:{port}",
                          "--state-poll-interval", str(poll), "--data-dir", d],
                         stdout=subprocess.PIPE, stderr=open(d + ".log", "w"), env=env, text=True)
    line = p.stdout.readline()
    words = dict(w.split("=", 1) for w in line.split() if "=" in w)
    viewer = words["viewer"].removeprefix("http://")
    edges.append(dict(name=name, proc=p, viewer=viewer, admin=words["admin"], counts=counts, lock=lock))

def cf(edge):
    return boto3.client("cloudfront", endpoint_url=edge["admin"], **creds,
                        config=botocore.config.Config(retries={"max_attempts": 1}))

cfg = {"CallerReference": "bench", "Comment": "", "Enabled": True,
       "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "localhost", "OriginPath": "/v0",
           "CustomOriginConfig": {"HTTPPort": origin.server_address[1], "HTTPSPort": 443,
                                  "OriginProtocolPolicy": "http-only"}}]},
       "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all",
                                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}}
d = cf(edges[0]).create_distribution(DistributionConfig=cfg)
dist_id, host = d["Distribution"]["Id"], d["Distribution"]["DomainName"]

def body(edge, path):
    c = http.client.HTTPConnection(edge["viewer"], timeout=10)
    c.request("GET", path, headers={"Host": host})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return data if r.status == 200 else None

def wait_all(version, tag):
    """Seconds until every edge serves `version` (polled every 20 ms), from now."""
    t0 = time.monotonic()
    pending = list(edges)
    n = 0
    while pending:
        n += 1
        for e in list(pending):
            if body(e, f"/{tag}-{e['name']}-{n}") == f"origin:{version}/{tag}-{e['name']}-{n}":
                pending.remove(e)
        if time.monotonic() - t0 > 120:
            raise SystemExit(f"change {version} not served everywhere in 120 s")
        time.sleep(0.02)
    return time.monotonic() - t0

wait_all("/v0", "start")
times = []
for k in range(1, changes + 1):
    via = edges[k % 3]
    c = cf(via)
    r = c.get_distribution_config(Id=dist_id)
    conf = r["DistributionConfig"]
    conf["Origins"]["Items"][0]["OriginPath"] = f"/v{k}"
    c.update_distribution(Id=dist_id, IfMatch=r["ETag"], DistributionConfig=conf)
    times.append(wait_all(f"/v{k}", f"c{k}"))
    time.sleep(poll * 0.37)  # start the next change at a different phase of the polls

# Idle: nothing changes for IDLE seconds.
time.sleep(poll * 2)
for e in edges:
    with e["lock"]:
        e["counts"].clear()
time.sleep(idle)
idle_counts = []
for e in edges:
    with e["lock"]:
        idle_counts.append(dict(e["counts"]))
for e in edges:
    e["proc"].terminate()
    e["proc"].wait()

times.sort()
q = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
per_min = [sum(c.values()) * 60 / idle for c in idle_counts]
print(json.dumps({
    "poll_interval_s": poll, "changes": len(times),
    "change_served_everywhere_s": {"median": round(statistics.median(times), 3),
                                   "p99": round(q(0.99), 3), "min": round(times[0], 3),
                                   "max": round(times[-1], 3)},
    "idle_s3_requests_per_edge_per_minute": [round(x, 1) for x in per_min],
    "idle_requests_by_method": idle_counts,
}, indent=2))
PY
