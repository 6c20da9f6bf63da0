#!/usr/bin/env bash
# Origin Shield: origin requests for the same load across three edges, without and with a shield.
#
#   benches/shield.sh [BIN]
#
#   BIN defaults to a release build of this repository. OBJECTS= distinct objects in the working
#   set (default 300), REQUESTS= viewer requests per scenario (default 20000), THREADS= client
#   threads (default 12), DELAY_MS= the origin's time to answer (default 20), MAX_SECS= the bound
#   on each scenario's load (default 180). Needs python3 only (no S3: the edges keep local state
#   and find the shield through --shield-endpoint).
#
# One loopback origin (Python, 1 KiB bodies, Cache-Control: max-age=3600, every request counted)
# and three edges with the same distribution, its origin declared with OriginShield us-east-1.
# Scenario "no shield": no edge serves us-east-1, so each edge fills its own cache from the
# origin. Scenario "shield": a fourth edge runs with --shield-region us-east-1 and the three
# send their misses to it. In both, the same REQUESTS requests (a fixed random sequence, uniform
# over the working set, each to a random edge, from THREADS keep-alive clients) are sent to
# fresh processes; then the usage report over the four journals gives the viewer requests and
# the Origin Shield requests. Appends its table to benches/results/YYYY-MM-DD-shield.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name=shield
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
# shellcheck source=benches/results.sh
source "$root/benches/results.sh"
command -v python3 >/dev/null || die "python3 is needed"
bin="$(edgegate_bin "${1:-}")"
out="$(OBJECTS="${OBJECTS:-300}" REQUESTS="${REQUESTS:-20000}" THREADS="${THREADS:-12}" \
    DELAY_MS="${DELAY_MS:-20}" MAX_SECS="${MAX_SECS:-180}" BIN="$bin" WORK="$work" \
    python3 - <<'PY'
import http.client, http.server, json, os, random, subprocess, threading, time

objects, requests = int(os.environ["OBJECTS"]), int(os.environ["REQUESTS"])
threads, delay = int(os.environ["THREADS"]), int(os.environ["DELAY_MS"]) / 1000
max_secs, work, binary = int(os.environ["MAX_SECS"]), os.environ["WORK"], os.environ["BIN"]
host = "dbench00000001.cloudfront.localhost"
key = "bench-shield-key"

hits, lock = {}, threading.Lock()
class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with lock:
            hits[self.path] = hits.get(self.path, 0) + 1
        time.sleep(delay)
        body = b"x" * 1024
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "max-age=3600")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass

origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
origin.daemon_threads = True
threading.Thread(target=origin.serve_forever, daemon=True).start()

config = os.path.join(work, "edgegate.toml")
with open(config, "w") as f:
    f.write(f"""
[[distributions]]
id = "EBENCHSHIELD1"
domain_name = "{host}"
caller_reference = "bench-shield"
comment = "origin shield bench"
enabled = true

[[distributions.origins]]
id = "origin"
domain_name = "127.0.0.1"
custom_origin_config = {{ http_port = {origin.server_address[1]}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 30 }}
origin_shield = {{ enabled = true, origin_shield_region = "us-east-1" }}

[distributions.default_cache_behavior]
target_origin_id = "origin"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
""")

def start(name, extra):
    d = os.path.join(work, name)
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                          "--workers", "1", "--config", config, "--data-dir", d,
                          "--shield-key", key, *extra],
                         stdout=subprocess.PIPE, stderr=open(d + ".log", "w"), text=True,
                         env=dict(os.environ, RUST_LOG="warn"))
    line = p.stdout.readline()
    words = dict(w.split("=", 1) for w in line.split() if "=" in w)
    if "viewer" not in words:
        raise SystemExit(f"{name} did not start: {open(d + '.log').read()}")
    return dict(proc=p, dir=d, viewer=words["viewer"].removeprefix("http://"))

def run(label, shield):
    hits.clear()
    procs = []
    extra = []
    if shield:
        s = start(f"{label}-shield", ["--shield-region", "us-east-1"])
        procs.append(s)
        extra = ["--shield-endpoint", f"us-east-1=http://{s['viewer']}"]
    edges = [start(f"{label}-edge{i}", extra) for i in range(3)]
    procs += edges
    rng = random.Random(24)
    plan = [(rng.randrange(objects), rng.randrange(3)) for _ in range(requests)]
    bad, done = [0], [0]
    t0 = time.monotonic()
    def client(k):
        conns = [http.client.HTTPConnection(e["viewer"], timeout=60) for e in edges]
        for i in range(k, requests, threads):
            if time.monotonic() - t0 > max_secs:
                break
            obj, e = plan[i]
            c = conns[e]
            c.request("GET", f"/obj/{obj}", headers={"Host": host})
            r = c.getresponse()
            r.read()
            with lock:
                done[0] += 1
                bad[0] += r.status != 200
    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    secs = time.monotonic() - t0
    for p in procs:
        p["proc"].terminate()
    for p in procs:
        p["proc"].wait()
    args = [binary, "usage", "report", "--format", "json"]
    for p in procs:
        args += ["--data-dir", p["dir"]]
    rows = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)["rows"]
    total = lambda suffix: sum(r["value"] for r in rows if r["usageType"].endswith(suffix))
    return dict(scenario=label, viewer_requests=done[0], non_200=bad[0], seconds=round(secs, 1),
                req_per_s=round(done[0] / secs), origin_requests=sum(hits.values()),
                objects_fetched=len(hits), max_fetches_of_one_object=max(hits.values(), default=0),
                usage_viewer_requests=total("-Requests-Tier1"),
                usage_origin_shield_requests=total("-Requests-OriginShield"))

results = [run("no-shield", False), run("shield", True)]
none, with_shield = results
print(f"| scenario | viewer requests | origin requests | objects fetched | most fetches of one object "
      f"| Origin Shield requests (usage report) | viewer requests (usage report) | req/s |")
print("|---|---|---|---|---|---|---|---|")
for r in results:
    print(f"| {r['scenario']} | {r['viewer_requests']} | {r['origin_requests']} | {r['objects_fetched']} "
          f"| {r['max_fetches_of_one_object']} | {r['usage_origin_shield_requests']} "
          f"| {r['usage_viewer_requests']} | {r['req_per_s']} |")
ratio = with_shield["origin_requests"] / max(1, none["origin_requests"])
print()
print(f"Origin requests with the shield / without: {ratio:.3f} "
      f"({with_shield['origin_requests']} against {none['origin_requests']}; working set {objects}).")
print()
print("```json")
print(json.dumps(dict(objects=objects, requests=requests, threads=threads,
                      origin_delay_ms=int(delay * 1000), results=results), indent=2))
print("```")
PY
)"
echo "$out"
file="$(results_file shield "Origin Shield: origin requests with and without a shield")"
{
    echo
    echo "## $(date -u +%FT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "\`benches/shield.sh\` (${bin#"$root"/}): three edges, one loopback origin (${DELAY_MS:-20} ms per answer)."
    echo "req/s is the Python client's on a shared machine: informational, not a measure of the edges."
    echo
    echo "$out"
} >> "$file"
echo "appended to $file"
