#!/usr/bin/env python3
"""The client and the checks of benches/soak.sh (run with tests/.venv's Python, for boto3).

    soak.py load  STATE SECS [--kill]   mixed load for SECS seconds against the edge described in
                                        STATE (a JSON file soak.sh writes: ports, host, pid,
                                        credentials, bucket, signed URLs); with --kill, stops the
                                        viewers, waits 1.5 s and SIGKILLs the edge while API
                                        changes are still being made. Adds its counts, the
                                        acknowledged API changes and resident-memory samples to
                                        STATE.
    soak.py check STATE                 after the restart: every acknowledged API change is there
    soak.py tally STATE DATA_DIR BIN    after a clean stop: the responses counted by the client
                                        against the journal, the usage report and the access logs
                                        delivered to S3; prints the report as JSON

The viewer load is eight tasks, each a loop of one request per new connection, picked at random:
60 % hits (one warm 1 KiB object), 25 % misses (2,000 small objects, invalidated every 15 s),
10 % signed URLs (valid), 5 % unsigned requests for the signed path (403). Beside it, one thread
creates, updates and deletes cache policies every 0.5 s and makes an invalidation every 15 s
through the API (boto3).
"""
import asyncio
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

TIMEOUT = 10.0
WORKERS = 8


def load_state(path):
    with open(path) as f:
        return json.load(f)


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cloudfront(state):
    import boto3
    from botocore.config import Config
    key, secret = state["admin_credentials"].split(":", 1)
    return boto3.client(
        "cloudfront", endpoint_url=f"http://127.0.0.1:{state['admin_port']}",
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10))


class Api(threading.Thread):
    """Makes API changes until stopped and records the acknowledged ones: every 0.5 s a cache
    policy is created, the newest one updated (its Comment) and, past ten, the oldest deleted
    (CloudFront allows 20 custom cache policies); every 15 s an invalidation. What is expected
    after a restart: `live` (id -> the last acknowledged Comment) present with that Comment,
    `deleted` absent. An operation under way at the kill is unknown: its policy is left out."""

    def __init__(self, state, tag):
        super().__init__(daemon=True)
        self.cf = cloudfront(state)
        self.dist = state["distribution"]
        self.tag = tag
        self.stop = threading.Event()
        self.live = {}
        self.deleted = []
        self.unknown = []
        self.invalidations = []
        self.acked = 0
        self.failed = 0

    def call(self, policy, fn, **kw):
        """fn(**kw); on failure the policy's state is unknown (it is left out of the checks)."""
        try:
            r = fn(**kw)
            self.acked += 1
            return r
        except Exception:  # noqa: BLE001 - not acknowledged
            self.failed += 1
            if policy is not None:
                self.unknown.append(policy)
                self.live.pop(policy, None)
            return None

    @staticmethod
    def config(name, comment):
        return {"Name": name, "Comment": comment, "MinTTL": 1, "DefaultTTL": 60, "MaxTTL": 3600,
                "ParametersInCacheKeyAndForwardedToOrigin": {
                    "EnableAcceptEncodingGzip": False,
                    "HeadersConfig": {"HeaderBehavior": "none"},
                    "CookiesConfig": {"CookieBehavior": "none"},
                    "QueryStringsConfig": {"QueryStringBehavior": "none"}}}

    def run(self):
        n = 0
        next_inval = time.monotonic() + 15
        names = {}
        while not self.stop.is_set():
            n += 1
            name = f"soak-{self.tag}-{n}"
            r = self.call(None, self.cf.create_cache_policy,
                          CachePolicyConfig=self.config(name, "v0"))
            if r is not None:
                pid, etag = r["CachePolicy"]["Id"], r["ETag"]
                self.live[pid] = "v0"
                names[pid] = name
                r = self.call(pid, self.cf.update_cache_policy, Id=pid, IfMatch=etag,
                              CachePolicyConfig=self.config(name, f"v{n}"))
                if r is not None:
                    self.live[pid] = f"v{n}"
            while len(self.live) > 10 and not self.stop.is_set():
                oldest = next(iter(self.live))
                got = self.call(oldest, self.cf.get_cache_policy, Id=oldest)
                if got is None:
                    continue
                if self.call(oldest, self.cf.delete_cache_policy, Id=oldest,
                             IfMatch=got["ETag"]) is not None:
                    self.live.pop(oldest, None)
                    self.deleted.append(oldest)
            if time.monotonic() >= next_inval:
                next_inval += 15
                r = self.call(None, self.cf.create_invalidation, DistributionId=self.dist,
                              InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/m/*"]},
                                                 "CallerReference": f"{name}-inval"})
                if r is not None:
                    self.invalidations.append(r["Invalidation"]["Id"])
            self.stop.wait(0.5)


async def one(port, host, path, expect):
    """One request on a new connection: 'sent' once the request was written, and whether the
    answer had the expected status."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return False, False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
    except OSError:
        writer.close()
        return False, False
    try:
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
        ok = data.startswith(f"HTTP/1.1 {expect}".encode())
    except (OSError, asyncio.TimeoutError):
        ok = False
    writer.close()
    return True, ok


async def viewers(state, secs, counts):
    port, host = state["viewer_port"], state["host"]
    signed = state["signed_urls"]
    end = time.monotonic() + secs

    async def worker():
        while time.monotonic() < end:
            r = random.random()
            if r < 0.60:
                kind, path, expect = "hit", "/obj-1k.bin", 200
            elif r < 0.85:
                kind, path, expect = "miss", f"/m/{random.randrange(2000)}.bin", 200
            elif r < 0.95:
                kind, path, expect = "signed", random.choice(signed), 200
            else:
                kind, path, expect = "refused", "/signed/obj-1k.bin", 403
            sent, ok = await one(port, host, path, expect)
            if sent:
                counts["sent"] += 1
                counts[kind] += 1
                if not ok:
                    counts["unexpected"] += 1
            else:
                counts["not_sent"] += 1
    await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def sample_rss(pid, secs, samples, t0):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        kib = rss_kib(pid)
        if kib is not None:
            samples.append([round(time.monotonic() - t0, 1), kib])
        await asyncio.sleep(5)


def load(path, secs, kill):
    state = load_state(path)
    phase = "after" if state.get("killed") else "before"
    counts = {k: 0 for k in ("sent", "not_sent", "unexpected", "hit", "miss", "signed", "refused")}
    api = Api(state, f"{phase}-{int(time.time())}")
    # After the restart it goes on from the policies left before (the quota is 20).
    api.live = dict(state.get("expect_live", {}))
    api.start()
    samples = []
    t0 = time.monotonic()

    async def run():
        await asyncio.gather(viewers(state, secs, counts),
                             sample_rss(state["pid"], secs, samples, t0))
    asyncio.run(run())
    if kill:
        # The viewers are done; a second and a half lets the journal writer (every 100 ms) hand
        # their records to the kernel. The API thread is still making changes.
        time.sleep(1.5)
        os.kill(state["pid"], signal.SIGKILL)
        state["killed"] = True
    api.stop.set()
    api.join(timeout=20)
    state.setdefault("phases", []).append({
        "phase": phase, "secs": secs, "counts": counts, "api_acked": api.acked,
        "invalidations": len(api.invalidations), "api_failed": api.failed})
    if phase == "before":
        # What the restarted edge must hold; the load after it changes its own policies only.
        state["expect_live"] = api.live
        state["expect_deleted"] = api.deleted
        state["unknown"] = api.unknown
    state.setdefault("acked_invalidations", []).extend(api.invalidations)
    state["api_acked"] = state.get("api_acked", 0) + api.acked
    if phase == "before":
        state["rss"] = samples
    save_state(path, state)
    print(json.dumps(state["phases"][-1]))


def check(path):
    state = load_state(path)
    cf = cloudfront(state)
    present = {}
    marker = None
    while True:
        kw = {"Type": "custom", "MaxItems": "1000"}
        if marker:
            kw["Marker"] = marker
        page = cf.list_cache_policies(**kw)["CachePolicyList"]
        for item in page.get("Items", []):
            p = item["CachePolicy"]
            present[p["Id"]] = p["CachePolicyConfig"].get("Comment")
        marker = page.get("NextMarker")
        if not marker:
            break
    missing = [p for p, comment in state.get("expect_live", {}).items()
               if present.get(p) != comment]
    resurrected = [p for p in state.get("expect_deleted", []) if p in present]
    missing_inval = []
    for inval in state.get("acked_invalidations", []):
        try:
            cf.get_invalidation(DistributionId=state["distribution"], Id=inval)
        except Exception:  # noqa: BLE001
            missing_inval.append(inval)
    state["after_restart"] = {
        "api_acked": state.get("api_acked", 0),
        "live_policies": len(state.get("expect_live", {})), "missing_policies": missing,
        "deleted_policies": len(state.get("expect_deleted", [])),
        "resurrected_policies": resurrected,
        "unknown_at_kill": len(state.get("unknown", [])),
        "acked_invalidations": len(state.get("acked_invalidations", [])),
        "missing_invalidations": missing_inval}
    save_state(path, state)
    print(json.dumps(state["after_restart"]))
    if missing or resurrected or missing_inval:
        sys.exit("soak.py: acknowledged API changes are missing after the restart")


def slope_kib_per_min(samples, warmup):
    pts = [(t, k) for t, k in samples if t >= warmup]
    if len(pts) < 3:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mk = sum(k for _, k in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    return round(60 * sum((t - mt) * (k - mk) for t, k in pts) / var, 1) if var else None


def tally(path, data_dir, binary):
    import boto3
    state = load_state(path)
    dist = state["distribution"]
    sent = sum(p["counts"]["sent"] for p in state["phases"])
    journal = subprocess.run([binary, "usage", "journal", "--data-dir", data_dir],
                             check=True, capture_output=True, text=True).stdout
    journal_lines = sum(1 for line in journal.splitlines()
                        if line and not line.startswith("#") and f"\t{dist}\t" in line)
    report = json.loads(subprocess.run(
        [binary, "usage", "report", "--data-dir", data_dir, "--format", "json",
         "--distribution", dist], check=True, capture_output=True, text=True).stdout)
    usage_requests = sum(r["value"] for r in report["rows"] if "Requests-" in r["usageType"])
    s3 = boto3.client("s3", endpoint_url=state["s3_endpoint"], aws_access_key_id="test",
                      aws_secret_access_key="test", region_name="us-east-1")
    keys, token = [], None
    while True:
        kw = {"Bucket": state["bucket"], "Prefix": "soak/"}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not token:
            break
    log_lines = 0
    for key in keys:
        body = s3.get_object(Bucket=state["bucket"], Key=key)["Body"].read()
        log_lines += sum(1 for line in gzip.decompress(body).decode().splitlines()
                         if line and not line.startswith("#"))
    rss = state.get("rss", [])
    warmup = state["warmup"]
    after = [k for t, k in rss if t >= warmup]
    out = {
        "client_sent": sent,
        "journal_records": journal_lines,
        "usage_requests": usage_requests,
        "log_files": len(keys),
        "log_lines": log_lines,
        "counted_once": sent == journal_lines == usage_requests == log_lines,
        "rss_first_mib": round(rss[0][1] / 1024, 1) if rss else None,
        "rss_after_warmup_mib": round(after[0] / 1024, 1) if after else None,
        "rss_last_mib": round(rss[-1][1] / 1024, 1) if rss else None,
        "rss_max_mib": round(max(k for _, k in rss) / 1024, 1) if rss else None,
        "rss_slope_kib_per_min": slope_kib_per_min(rss, warmup),
        "phases": state["phases"],
        "after_restart": state.get("after_restart"),
    }
    print(json.dumps(out))
    if not out["counted_once"]:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "load":
        load(sys.argv[2], float(sys.argv[3]), "--kill" in sys.argv[4:])
    elif cmd == "check":
        check(sys.argv[2])
    elif cmd == "tally":
        tally(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
