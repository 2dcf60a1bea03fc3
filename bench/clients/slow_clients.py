#!/usr/bin/env python3
"""HTTP clients for bench/slow-clients.sh, for the loads wrk cannot make.

Standard library only (asyncio). Every mode talks to one 127.0.0.1 port, is bounded in time,
prints its results as `key=value` lines on stdout (read by the bench script) and its progress on
stderr.

  upload  N concurrent uploads of S MiB (all N connections open at once, each streaming its body
          and checking that the app answers the body's length), while Ferry's RSS (one process:
          --rss-pid) and the free space of the temp dir (--disk-path) are sampled every 100 ms.
  idle    K keep-alive connections, each sends one GET, reads the answer and stays open, idle;
          the RSS of the server's processes (--pids) before, with the K connections idle, and
          after they are closed.
  slow    N slow readers: each asks for --path (a large response) and reads it at --rate bytes
          per second (reads a second's worth, then sleeps the rest of the second) through a small
          receive buffer, again and again, until SIGTERM or --max-secs. Writes --ready-file once
          every reader has sent its first request.
  probe   requests for --path back to back for --secs, each on a new connection (a new
          client), or all on one keep-alive connection (--keepalive): latency percentiles,
          errors and timeouts.

The script raises its own RLIMIT_NOFILE soft limit to the hard limit.
"""

import argparse
import asyncio
import os
import resource
import signal
import socket
import sys
import time

HOST = "127.0.0.1"
HEAD_LIMIT = 64 * 1024


def log(msg):
    print(f"client: {msg}", file=sys.stderr, flush=True)


def emit(**values):
    for key, value in values.items():
        print(f"{key}={value}", flush=True)


def raise_nofile(wanted):
    """Soft RLIMIT_NOFILE up to the hard limit; True when `wanted` descriptors fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    elif hard == resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log(f"RLIMIT_NOFILE is {soft}, fewer than the {wanted} descriptors wanted")
        return False
    return True


def rss_kb(pids):
    """The sum of VmRSS (kB) of the processes that still exist."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


# === HTTP responses ===


class Head:
    """A parsed response head: status, lower-case headers."""

    def __init__(self, raw):
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"bad status line {lines[0][:60]!r}")
        self.status = int(parts[1])
        self.headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()

    def content_length(self):
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    def chunked(self):
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    def closes(self):
        return self.headers.get("connection", "").lower() == "close"


async def read_response(reader):
    """(Head, body bytes) of one response on an asyncio stream (Content-Length, chunked, or
    until EOF)."""
    raw = await reader.readuntil(b"\r\n\r\n")
    head = Head(raw[:-4])
    length = head.content_length()
    if head.chunked():
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return head, bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    if length is not None:
        return head, await reader.readexactly(length)
    return head, await reader.read()


# === upload ===


class UploadStats:
    def __init__(self):
        self.ok = 0
        self.failures = {}
        self.first_failure = ""
        self.bytes_sent = 0

    def fail(self, kind, detail):
        self.failures[kind] = self.failures.get(kind, 0) + 1
        if not self.first_failure:
            self.first_failure = f"{kind}: {detail}"[:200]


async def send_body(writer, size, chunk, stats):
    view = memoryview(chunk)
    left = size
    while left > 0:
        piece = view[: min(left, len(chunk))]
        writer.write(piece)
        await writer.drain()
        left -= len(piece)
        stats.bytes_sent += len(piece)


async def upload_one(args, size, chunk, stats, connect_gate):
    try:
        async with connect_gate:
            reader, writer = await asyncio.open_connection(HOST, args.port)
    except OSError as e:
        stats.fail("connect", e)
        return
    head = (
        f"POST {args.path} HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    send = asyncio.ensure_future(send_head_and_body(writer, head, size, chunk, stats))
    recv = asyncio.ensure_future(read_response(reader))
    try:
        done, _ = await asyncio.wait({send, recv}, return_when=asyncio.FIRST_COMPLETED)
        if recv not in done:
            await send  # raises if sending failed
        answer, body = await recv
        # An answer that came before the whole body was sent (a 413, say) is a failure even
        # when it is a 200: the app cannot have seen the whole body.
        sent_all = send.done() and not send.cancelled() and send.exception() is None
        kind = "answer" if sent_all else "early answer"
        if answer.status == 200 and body.strip() == str(size).encode() and sent_all:
            stats.ok += 1
        else:
            stats.fail(f"{kind} {answer.status}", body[:80])
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        stats.fail(type(e).__name__, e)
    finally:
        for task in (send, recv):
            task.cancel()
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" warning
        writer.close()


async def send_head_and_body(writer, head, size, chunk, stats):
    writer.write(head)
    await send_body(writer, size, chunk, stats)


class Sampler:
    """Every 100 ms: VmRSS of one process (its peak) and the free space of a directory (its
    low point)."""

    def __init__(self, pid, disk_path):
        self.pid = pid
        self.disk_path = disk_path
        self.rss_peak_kb = 0
        self.free_low_kb = None
        self.samples = 0

    def free_kb(self):
        st = os.statvfs(self.disk_path)
        return st.f_bavail * st.f_frsize // 1024

    async def run(self):
        while True:
            if self.pid:
                self.rss_peak_kb = max(self.rss_peak_kb, rss_kb([self.pid]))
            if self.disk_path:
                free = self.free_kb()
                self.free_low_kb = free if self.free_low_kb is None else min(self.free_low_kb, free)
            self.samples += 1
            await asyncio.sleep(0.1)


async def upload_mode(args):
    raise_nofile(args.count + 64)
    size = args.mib * 1024 * 1024
    chunk = bytes(range(256)) * 256  # 64 KiB
    stats = UploadStats()
    sampler = Sampler(args.rss_pid, args.disk_path)
    free_before = sampler.free_kb() if args.disk_path else 0
    rss_before = rss_kb([args.rss_pid]) if args.rss_pid else 0
    sampling = asyncio.ensure_future(sampler.run())
    gate = asyncio.Semaphore(args.connect_concurrency)
    log(f"{args.count} uploads of {args.mib} MiB to port {args.port}{args.path}")
    start = time.monotonic()
    tasks = [asyncio.ensure_future(upload_one(args, size, chunk, stats, gate)) for _ in range(args.count)]
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    secs = time.monotonic() - start
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
        stats.failures["unfinished at the timeout"] = len(pending)
        if not stats.first_failure:
            stats.first_failure = f"{len(pending)} uploads unfinished after {args.timeout} s"
    sampling.cancel()
    hwm = status_kb(args.rss_pid, "VmHWM") if args.rss_pid else 0
    failed = args.count - stats.ok
    emit(
        ok=stats.ok,
        failed=failed,
        failures=";".join(f"{k}:{v}" for k, v in sorted(stats.failures.items())) or "none",
        first_failure=stats.first_failure.replace("\n", " ") or "none",
        secs=f"{secs:.2f}",
        mib_sent=f"{stats.bytes_sent / 1048576:.0f}",
        mib_per_s=f"{stats.bytes_sent / 1048576 / secs:.0f}" if secs > 0 else "0",
        rss_before_kb=rss_before,
        rss_peak_kb=sampler.rss_peak_kb,
        hwm_kb=hwm,
        rss_samples=sampler.samples,
        disk_free_before_kb=free_before,
        disk_peak_used_kb=max(0, free_before - (sampler.free_low_kb or free_before)),
    )


# === idle ===


async def open_idle(args, conns, gate, failures):
    request = f"GET {args.path} HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n\r\n".encode()
    try:
        async with gate:
            reader, writer = await asyncio.open_connection(HOST, args.port)
            writer.write(request)
            head, _ = await read_response(reader)
        if head.status != 200 or head.closes():
            failures.append(f"status {head.status}{' (connection: close)' if head.closes() else ''}")
            writer.close()
            return
        conns.append((reader, writer))
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        failures.append(f"{type(e).__name__}: {e}")


def still_open(conns):
    return sum(1 for reader, writer in conns if not reader.at_eof() and not writer.is_closing())


async def idle_mode(args):
    raise_nofile(args.count + 64)
    pids = [int(p) for p in args.pids.split(",") if p]
    await asyncio.sleep(0.5)
    before = rss_kb(pids)
    conns, failures = [], []
    gate = asyncio.Semaphore(args.connect_concurrency)
    log(f"opening {args.count} keep-alive connections to port {args.port} (RSS before: {before} kB)")
    start = time.monotonic()
    tasks = [asyncio.ensure_future(open_idle(args, conns, gate, failures)) for _ in range(args.count)]
    _, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for task in pending:
        task.cancel()
        failures.append("not answered before the timeout")
    open_secs = time.monotonic() - start
    # Let the server finish whatever follows a response (the connection goes idle), then read
    # the RSS a few times and keep the last reading.
    idle = 0
    for _ in range(3):
        await asyncio.sleep(0.5)
        idle = rss_kb(pids)
    alive = still_open(conns)
    log(f"{len(conns)} connections idle after {open_secs:.1f} s, {alive} still open; RSS {idle} kB")
    for _, writer in conns:
        writer.close()
    await asyncio.sleep(1.0)
    after = rss_kb(pids)
    opened = len(conns)
    emit(
        opened=opened,
        failed=args.count - opened,
        first_failure=(failures[0] if failures else "none").replace("\n", " ")[:200],
        still_open=alive,
        open_secs=f"{open_secs:.1f}",
        rss_before_kb=before,
        rss_idle_kb=idle,
        rss_after_close_kb=after,
        per_conn_bytes=f"{(idle - before) * 1024 / opened:.0f}" if opened else "n/a",
    )


# === slow ===


class SlowStats:
    def __init__(self, clients):
        self.clients = clients
        self.sent_first = 0
        self.got_bytes = 0  # readers that received at least one byte
        self.first_byte_secs = []
        self.bytes = 0
        self.responses = 0
        self.errors = 0
        self.first_error = ""


def body_done(head, body_bytes, tail):
    length = head.content_length()
    if length is not None:
        return body_bytes >= length
    if head.chunked():
        return tail.endswith(b"\r\n0\r\n\r\n") or tail == b"0\r\n\r\n"
    return False


async def slow_reader(args, stats, ready, start):
    loop = asyncio.get_running_loop()
    request = f"GET {args.path} HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n\r\n".encode()
    first = True
    got_any = False
    sock = None
    try:
        while True:
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
                if args.mss:
                    # Announced in the SYN: the server sends segments of this size, as on a
                    # real network, instead of loopback's 64 KiB ones (which let the server's
                    # send buffer swallow a few MiB of the response at once).
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, args.mss)
                sock.setblocking(False)
                await loop.sock_connect(sock, (HOST, args.port))
            await loop.sock_sendall(sock, request)
            if first:
                first = False
                stats.sent_first += 1
                if stats.sent_first == stats.clients:
                    ready()
            head, buf, body_bytes, tail = None, b"", 0, b""
            window = loop.time()
            budget = args.rate
            while True:
                if budget <= 0:
                    window += 1.0
                    await asyncio.sleep(max(0.0, window - loop.time()))
                    budget = args.rate
                data = await loop.sock_recv(sock, min(budget, 65536))
                if not data:
                    raise ConnectionError("closed by the server before the response ended")
                budget -= len(data)
                stats.bytes += len(data)
                if not got_any:
                    got_any = True
                    stats.got_bytes += 1
                    stats.first_byte_secs.append(loop.time() - start)
                if head is None:
                    buf += data
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buf) > HEAD_LIMIT:
                            raise ValueError("response head too long")
                        continue
                    head = Head(buf[:end])
                    data = buf[end + 4 :]
                body_bytes += len(data)
                tail = (tail + data)[-8:]
                if body_done(head, body_bytes, tail):
                    stats.responses += 1
                    if head.closes():
                        sock.close()
                        sock = None
                    break
    except asyncio.CancelledError:
        raise
    except (OSError, ConnectionError, ValueError) as e:
        stats.errors += 1
        if not stats.first_error:
            stats.first_error = f"{type(e).__name__}: {e}"[:200]
    finally:
        if sock is not None:
            sock.close()


async def slow_mode(args):
    raise_nofile(args.clients + 64)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stats = SlowStats(args.clients)

    def ready():
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write(f"{loop.time() - start:.3f}\n")
        log(f"all {args.clients} slow readers have sent their request")

    start = loop.time()
    tasks = [asyncio.ensure_future(slow_reader(args, stats, ready, start)) for _ in range(args.clients)]
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_secs)
    except asyncio.TimeoutError:
        log(f"stopping after --max-secs {args.max_secs}")
    secs = loop.time() - start
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=10)
    firsts = sorted(stats.first_byte_secs)
    emit(
        clients=args.clients,
        sent=stats.sent_first,
        got_bytes=stats.got_bytes,
        first_byte_p50_s=f"{percentile(firsts, 50):.2f}",
        first_byte_max_s=f"{firsts[-1]:.2f}" if firsts else "n/a",
        responses=stats.responses,
        kib=stats.bytes // 1024,
        kib_per_s_per_client=f"{stats.bytes / 1024 / secs / args.clients:.1f}" if secs > 0 else "0",
        errors=stats.errors,
        first_error=stats.first_error or "none",
        secs=f"{secs:.1f}",
    )


# === probe ===


def recv_response(sock, buf):
    """Read one response from a blocking socket; returns (status, leftover, closes)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response head")
        buf += data
        if len(buf) > HEAD_LIMIT:
            raise ValueError("response head too long")
    end = buf.index(b"\r\n\r\n")
    head = Head(bytes(buf[:end]))
    rest = buf[end + 4 :]
    length = head.content_length()
    if head.chunked():
        while not (rest.endswith(b"\r\n0\r\n\r\n") or rest == b"0\r\n\r\n"):
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed inside a chunked body")
            rest += data
        return head.status, bytearray(), True
    if length is None:
        while sock.recv(65536):
            pass
        return head.status, bytearray(), True
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed inside the body")
        rest += data
    return head.status, bytearray(rest[length:]), head.closes()


def probe_mode(args):
    close = "" if args.keepalive else "Connection: close\r\n"
    request = f"GET {args.path} HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n{close}\r\n".encode()
    latencies, errors, timeouts, non200 = [], 0, 0, 0
    first_error = ""
    sock, buf = None, bytearray()
    start = time.monotonic()
    deadline = start + args.secs
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            if sock is None:
                sock = socket.create_connection((HOST, args.port), timeout=args.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = bytearray()
            sock.settimeout(args.timeout)
            sock.sendall(request)
            status, buf, closes = recv_response(sock, buf)
            latencies.append(time.monotonic() - t0)
            if status != 200:
                non200 += 1
                if not first_error:
                    first_error = f"HTTP {status}"
            if closes or not args.keepalive:
                sock.close()
                sock = None
        except socket.timeout:
            # A lower bound of this request's latency: count it, then start afresh.
            latencies.append(time.monotonic() - t0)
            timeouts += 1
            if not first_error:
                first_error = f"no answer within {args.timeout} s"
            if sock is not None:
                sock.close()
            sock = None
        except (OSError, ConnectionError, ValueError) as e:
            errors += 1
            if not first_error:
                first_error = f"{type(e).__name__}: {e}"
            if sock is not None:
                sock.close()
            sock = None
            time.sleep(0.01)  # a refused or reset connection: do not spin
    if sock is not None:
        sock.close()
    secs = time.monotonic() - start
    lat = sorted(latencies)

    def ms(secs):
        return f"{secs * 1000:.3f}"

    emit(
        requests=len(lat),
        errors=errors + non200,
        timeouts=timeouts,
        first_error=(first_error or "none")[:200],
        req_per_s=f"{len(lat) / secs:.0f}" if secs > 0 else "0",
        p50_ms=ms(percentile(lat, 50)),
        p90_ms=ms(percentile(lat, 90)),
        p99_ms=ms(percentile(lat, 99)),
        max_ms=ms(lat[-1]) if lat else "0",
    )


# === main ===


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)

    up = sub.add_parser("upload", help="N concurrent streamed uploads")
    up.add_argument("--count", type=int, required=True)
    up.add_argument("--mib", type=int, required=True)
    up.add_argument("--path", default="/")
    up.add_argument("--timeout", type=float, default=900, help="give up on what is unfinished after this")
    up.add_argument("--rss-pid", type=int, default=0, help="the process whose RSS is sampled")
    up.add_argument("--disk-path", default="", help="a directory whose free space is sampled")
    up.add_argument("--connect-concurrency", type=int, default=256)

    idle = sub.add_parser("idle", help="K idle keep-alive connections")
    idle.add_argument("--count", type=int, required=True)
    idle.add_argument("--path", default="/")
    idle.add_argument("--pids", default="", help="comma-separated: the server's processes")
    idle.add_argument("--timeout", type=float, default=120)
    idle.add_argument("--connect-concurrency", type=int, default=200)

    slow = sub.add_parser("slow", help="N slow readers")
    slow.add_argument("--clients", type=int, required=True)
    slow.add_argument("--path", default="/big")
    slow.add_argument("--rate", type=int, default=10240, help="bytes per second per reader")
    slow.add_argument("--rcvbuf", type=int, default=4096, help="SO_RCVBUF of each reader")
    slow.add_argument("--mss", type=int, default=1448, help="TCP_MAXSEG of each reader (0: loopback's)")
    slow.add_argument("--max-secs", type=float, default=300)
    slow.add_argument("--ready-file", default="")

    probe = sub.add_parser("probe", help="back-to-back requests on one connection")
    probe.add_argument("--path", default="/")
    probe.add_argument("--secs", type=float, required=True)
    probe.add_argument("--timeout", type=float, default=30, help="per request")
    probe.add_argument("--keepalive", action="store_true", help="one connection for all requests")

    for p in (up, idle, slow, probe):
        p.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    if args.mode == "probe":
        probe_mode(args)
    else:
        runner = {"upload": upload_mode, "idle": idle_mode, "slow": slow_mode}[args.mode]
        asyncio.run(runner(args))


if __name__ == "__main__":
    main()
