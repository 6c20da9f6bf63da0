#!/usr/bin/env python3
"""The clients of benches/abuse.sh: attack scenarios against one server on loopback, each
bounded in count and time, each reporting how well-behaved viewers fare during the attack.

    abuse.py burst PORT HOST PATH N            N new connections at once, one GET each
    abuse.py idle  PORT HOST PATH N SECS HOLD  N silent connections, well-behaved GETs for SECS,
                                               then how many of the N the server closed within HOLD
    abuse.py good  PORT HOST PATH SECS         well-behaved GETs alone (the unloaded baseline)

Each prints one JSON object. PIDS (comma-separated, in the environment) are the server's
processes: their resident memory and CPU time are reported too."""
import asyncio
import json
import os
import resource
import sys
import time

TIMEOUT = 10.0


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_usage():
    """Resident KiB and CPU seconds of the processes in $PIDS."""
    rss, cpu = 0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(None, os.environ.get("PIDS", "").split(",")):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return rss, cpu


async def get(port, host, path):
    """One GET on a new connection: (succeeded, seconds)."""
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
        ok = data.startswith(b"HTTP/1.1 200")
    except (OSError, asyncio.TimeoutError):
        ok = False
    return ok, time.perf_counter() - t0


def summary(results):
    times = sorted(t for _, t in results)
    ok = sum(1 for o, _ in results if o)
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))] * 1000, 2) if times else None
    return {"requests": len(results), "ok_pct": round(100.0 * ok / max(1, len(results)), 2),
            "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": pick(1.0)}


async def well_behaved(port, host, path, secs):
    results = []
    end = time.monotonic() + secs
    while time.monotonic() < end:
        results.append(await get(port, host, path))
    return results


async def main(argv):
    raise_fd_limit()
    kind, port, host, path = argv[0], int(argv[1]), argv[2], argv[3]
    rss0, cpu0 = server_usage()
    out = {"scenario": kind}
    if kind == "burst":
        n = int(argv[4])
        t0 = time.perf_counter()
        results = await asyncio.gather(*(get(port, host, path) for _ in range(n)))
        out.update(summary(results), wall_ms=round((time.perf_counter() - t0) * 1000, 1))
    elif kind == "good":
        out.update(summary(await well_behaved(port, host, path, float(argv[4]))))
    elif kind == "idle":
        n, secs, hold = int(argv[4]), float(argv[5]), float(argv[6])
        t0 = time.monotonic()
        idle = []
        for _ in range(n):
            try:
                idle.append(await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), TIMEOUT))
            except (OSError, asyncio.TimeoutError):
                break
        out["idle_opened"] = len(idle)
        out.update(summary(await well_behaved(port, host, path, secs)))
        await asyncio.sleep(max(0.0, hold - (time.monotonic() - t0)))

        async def closed(reader):
            try:
                return await asyncio.wait_for(reader.read(1), 0.05) == b""
            except asyncio.TimeoutError:
                return False
            except OSError:
                return True
        gone = await asyncio.gather(*(closed(r) for r, _ in idle))
        out[f"idle_closed_within_{hold:g}s"] = sum(gone)
        for _, w in idle:
            w.close()
    else:
        sys.exit(f"abuse.py: unknown scenario {kind}")
    rss1, cpu1 = server_usage()
    out.update(server_rss_mib=round(rss1 / 1024, 1), server_cpu_s=round(cpu1 - cpu0, 2))
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1:]))
