#!/usr/bin/env python3
"""TTFB accuracy: opsdash (its probe, and the whole `opsdash once` process) vs curl vs blackbox exporter.

    python bench/ttfb_accuracy.py [--delays 50 150 400] [--probes 20] [--tools ...]

A small HTTP/1.1 server (its own process, 127.0.0.1) reads the request, then
waits a known delay before it writes the first byte of the response (status
line, headers and a 1 KiB body in one write; ``Connection: close``). The
delay comes from the path, ``/delay/150``; every request carries its own id
(``?id=curl-7``). Each tool probes it with a fresh connection, in turn
(round-robin, so load drifts hit all tools alike, in the same run):

  - opsdash-once: the whole ``opsdash once --probe http --format json`` process,
    one per probe (config, collector, warm-up, probe, snapshot); TTFB = the
    endpoint's ``ttfb_ms``;
  - opsdash-probe: ``HTTPProbe.probe()`` in this process; TTFB = ``phases.ttfb_ms``;
  - curl: ``curl -s -o /dev/null -w %{time_starttransfer}``, one process per probe;
  - blackbox exporter (Debian ``prometheus-blackbox-exporter``), on a loopback
    port with an ``http`` module; TTFB = sum of ``probe_http_duration_seconds``
    for resolve + connect + tls + processing.

The truth is the server's: for each request it records, on the shared
CLOCK_MONOTONIC, the kernel's receive time of the request (SO_TIMESTAMPNS) and
the moment it wrote the response, and the bench reads them back by id
(``/truth?id=``). Error = measured TTFB - (write - receive): the server's own
lateness (a thread started late, an oversleep on a loaded machine) is no
tool's error, and what is left is what the tool adds (its connect and request
write, its wake-up for the reply). The loopback connect and transfer are tens
of microseconds. The error against the nominal delay is printed too.

Reports the median and the median absolute error per tool and delay, and
opsdash's error as a ratio of curl's. Prints a Markdown section; exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opsdash.collect.http import HTTPProbe  # noqa: E402
from opsdash.config import EndpointConfig  # noqa: E402

BODY = b"x" * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SO_TIMESTAMPNS = 35  # Linux; Python's socket module does not name it
TIMESPEC = struct.Struct("@ll")


def kernel_time(ancdata: list) -> float | None:
    """A SO_TIMESTAMPNS receive stamp, moved onto the perf_counter (CLOCK_MONOTONIC) clock."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            sec, nsec = TIMESPEC.unpack_from(data)
            now_perf, now_wall = time.perf_counter(), time.time()
            return min(now_perf, now_perf - (now_wall - (sec + nsec / 1e9)))
    return None


def serve(port: int, ready: "multiprocessing.synchronize.Event") -> None:
    """One thread per connection; the delay starts when the request's last bytes reached the kernel."""
    import threading

    truth: dict[str, list[str]] = {}  # request id -> its records, oldest first (the collector repeats its URL)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # accepted sockets inherit it
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    ready.set()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            t_rx = None
            while b"\r\n\r\n" not in buf:
                chunk, anc, _f, _a = conn.recvmsg(65536, socket.CMSG_SPACE(TIMESPEC.size))
                if not chunk:
                    return
                t_rx = kernel_time(anc)
                buf += chunk
            t_head = time.perf_counter()
            t_start = t_rx if t_rx is not None else t_head
            m = re.match(rb"[A-Z]+ /truth\?id=(\S+) ", buf)
            if m:
                records = truth.get(m.group(1).decode()) or [""]
                body = records.pop(0).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
                return
            m = re.match(rb"[A-Z]+ /delay/(\d+)(?:\?id=(\S+))? ", buf)
            delay = int(m.group(1)) / 1000.0 if m else 0.0
            # sleep most of it, then spin the last ms: the injected delay is exact to ~0.05 ms
            rest = delay - (time.perf_counter() - t_start)
            if rest > 0.002:
                time.sleep(rest - 0.002)
            while time.perf_counter() - t_start < delay:
                pass
            t_send = time.perf_counter()
            if m and m.group(2):  # before the reply: the bench asks for it as soon as it has the reply
                truth.setdefault(m.group(2).decode(), []).append(
                    f"{(t_send - t_start) * 1000:.4f} {(t_head - t_start) * 1000:.4f}")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(BODY) + BODY)

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def server_truth(port: int, rid: str) -> tuple[float, float]:
    """(the server's wait from the request's arrival to its reply, its lag reading it), in ms."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/truth?id={rid}", timeout=10).read().decode()
    if not text:
        raise RuntimeError(f"the server has no record of request {rid}")
    wait, lag = text.split()
    return float(wait), float(lag)


BB_CONFIG = """modules:
  http_ttfb:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


def start_blackbox(tmp: Path) -> tuple[subprocess.Popen, int]:
    exe = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if not exe:
        raise SystemExit("prometheus-blackbox-exporter is not installed: apt-get install prometheus-blackbox-exporter")
    cfg = tmp / "blackbox.yml"
    cfg.write_text(BB_CONFIG)
    port = free_port()
    proc = subprocess.Popen([exe, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "blackbox.log", "wb"))
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1).read()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"blackbox exporter did not start: {(tmp / 'blackbox.log').read_text()[-1000:]}")


PHASE = re.compile(r'^probe_http_duration_seconds\{phase="(\w+)"\} (\S+)$', re.M)


def blackbox_ttfb(bb_port: int, url: str) -> float:
    q = urllib.parse.urlencode({"module": "http_ttfb", "target": url})
    text = urllib.request.urlopen(f"http://127.0.0.1:{bb_port}/probe?{q}", timeout=10).read().decode()
    if not re.search(r"^probe_success 1$", text, re.M):
        raise RuntimeError(f"blackbox probe failed:\n{text[:2000]}")
    ph = {k: float(v) for k, v in PHASE.findall(text)}
    return sum(ph.get(k, 0.0) for k in ("resolve", "connect", "tls", "processing")) * 1000


def curl_ttfb(url: str) -> float:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_starttransfer}", url],
                         capture_output=True, text=True, check=True).stdout
    return float(out.replace(",", ".")) * 1000


async def opsdash_ttfb(probe: HTTPProbe, ep: EndpointConfig) -> float:
    r = await probe.probe(ep)
    if not r.ok or r.phases is None or r.phases.ttfb_ms is None:
        raise RuntimeError(f"opsdash probe failed: {r.error}")
    return r.phases.ttfb_ms


def once_ttfb(tmp: Path, url: str) -> float:
    """The whole `opsdash once` process, one probe: config, collector, warm-up, probe, snapshot."""
    cfg = tmp / "once.toml"
    cfg.write_text(f'[[endpoints]]\nname = "bench"\nurl = "{url}"\ntimeout = "5s"\n')
    r = subprocess.run([sys.executable, "-m", "opsdash", "once", "--probe", "http", "--format", "json",
                        "--config", str(cfg)], capture_output=True, text=True, cwd=ROOT)
    try:
        ep = json.loads(r.stdout)["endpoints"][0]
    except (ValueError, LookupError):
        raise RuntimeError(f"opsdash once failed (exit {r.returncode}): {r.stderr[-500:]}") from None
    if ep.get("state") != "ok" or ep.get("ttfb_ms") is None:
        raise RuntimeError(f"opsdash once: {ep}")
    return float(ep["ttfb_ms"])


class Collect:
    """The real `opsdash collect` process, beside the round-robin for the whole run.

    One endpoint per delay, polled every second on a fresh connection, plus this
    machine's health every 2 s (so the loop has its usual work: health polls,
    store writes, the engine). Its TTFBs are read from the store afterwards
    (``endpoint.ttfb_ms``, oldest first) and matched to the server's records of
    the same URL in order.
    """

    def __init__(self, tmp: Path, port: int, delays: list[int]) -> None:
        self.tmp, self.port, self.delays = tmp, port, delays
        cfg = tmp / "collect.toml"
        cfg.write_text('[[hosts]]\nname = "here"\nprobes = ["local"]\ninterval = "2s"\n' + "".join(
            f'[[endpoints]]\nname = "c{d}"\nurl = "http://127.0.0.1:{port}/delay/{d}?id=collect-{d}"\n'
            f'interval = "1s"\ntimeout = "5s"\n' for d in delays))
        self.store = tmp / "collect.sqlite"
        self.proc = subprocess.Popen([sys.executable, "-m", "opsdash", "collect", "--config", str(cfg),
                                      "--store", str(self.store)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=open(tmp / "collect.log", "wb"))

    def finish(self) -> dict[int, list[tuple[float, float, float]]]:
        self.proc.terminate()  # by PID; SIGTERM finishes the current write
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        import sqlite3

        db = sqlite3.connect(self.store)
        out: dict[int, list[tuple[float, float, float]]] = {}
        for d in self.delays:
            xs = [v for (v,) in db.execute(
                "SELECT s.value FROM samples s JOIN series r ON r.id = s.series_id "
                "WHERE r.target = ? AND r.metric = 'endpoint.ttfb_ms' ORDER BY s.t", (f"c{d}",))]
            truths = []
            while True:
                text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/truth?id=collect-{d}", timeout=10).read()
                if not text:
                    break
                truths.append(tuple(map(float, text.split())))
            if len(truths) == len(xs) + 1:  # the request in flight when the collector stopped
                truths.pop()
            if len(xs) != len(truths):  # a failed probe leaves a server record and no sample
                log = (self.tmp / "collect.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"collect: {len(xs)} TTFB samples for c{d}, the server saw {len(truths)}:\n{log}")
            out[d] = [(x, w, lag) for x, (w, lag) in zip(xs, truths)]
        db.close()
        return out


TOOLS = ("opsdash-collect", "opsdash-once", "opsdash-probe", "curl", "blackbox")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delays", type=int, nargs="+", default=[50, 150, 400], metavar="MS")
    ap.add_argument("--probes", type=int, default=20, help="probes per tool and delay")
    ap.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), metavar="TOOL",
                    help="some of " + " ".join(TOOLS) + " (curl is always run: it is the peer)")
    args = ap.parse_args()
    tools = [t for t in TOOLS if t in args.tools or t == "curl"]
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed")
    load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    t_run = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="opsdash-ttfb-"))
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(10)
    bb = bb_port = bb_version = None
    if "blackbox" in tools:
        bb, bb_port = start_blackbox(tmp)
        v = subprocess.run([bb.args[0], "--version"], capture_output=True, text=True)
        bb_version = re.search(r"version (\S+)", v.stdout + v.stderr)
    curl_version = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1]
    # (tool, delay) -> [(measured TTFB, the server's wait, the server's lag reading the request)]
    results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    loop = asyncio.new_event_loop()
    probe = HTTPProbe()
    seq = 0
    collect = Collect(tmp, port, args.delays) if "opsdash-collect" in tools else None
    rr_tools = [t for t in tools if t != "opsdash-collect"]

    def one(tool: str, delay: int, record: bool = True) -> None:
        nonlocal seq
        seq += 1
        rid = f"{tool}-{seq}"
        url = f"http://127.0.0.1:{port}/delay/{delay}?id={rid}"
        if tool == "opsdash-probe":
            ep = EndpointConfig(name=f"d{delay}", url=url, timeout=5.0)
            x = loop.run_until_complete(opsdash_ttfb(probe, ep))
        elif tool == "opsdash-once":
            x = once_ttfb(tmp, url)
        elif tool == "curl":
            x = curl_ttfb(url)
        else:
            x = blackbox_ttfb(bb_port, url)
        wait, lag = server_truth(port, rid)
        if record:
            results.setdefault((tool, delay), []).append((x, wait, lag))

    try:
        loop.run_until_complete(probe.warm_up())
        for delay in args.delays:
            for t in rr_tools:  # one unrecorded warm-up each
                one(t, delay, record=False)
            for _ in range(args.probes):
                for t in rr_tools:
                    one(t, delay)
            print(f"delay {delay} ms: " + ", ".join(
                f"{t} median {statistics.median(x for x, _, _ in results[(t, delay)]):.2f} ms" for t in rr_tools),
                file=sys.stderr)
        if collect is not None:
            for d, rows in collect.finish().items():
                results[("opsdash-collect", d)] = rows[1:]  # its first probe ran before the round-robin started
            collect = None
    finally:
        if collect is not None:
            collect.proc.kill()
        loop.run_until_complete(probe.close())
        loop.close()
        if bb is not None:
            bb.terminate()
            bb.wait(5)
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    # A tool with no measurement for a delay (the collector polled only once in a short run)
    # reads NaN, shown as "nan": the table says so instead of the script failing.
    def median(xs: Iterable[float]) -> float:
        xs = list(xs)
        return statistics.median(xs) if xs else math.nan

    def mae(tool: str, delays: list[int], nominal: bool = False) -> float:
        return median(abs(x - (d if nominal else wait)) for d in delays for x, wait, _ in results.get((tool, d), ()))

    def med(tool: str, d: int) -> float:
        return median(x for x, _, _ in results.get((tool, d), ()))

    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; curl {curl_version}"
        + (f", blackbox exporter {bb_version.group(1) if bb_version else '?'}" if bb else "")
        + f"; load average {load0} at start, {load1} at the end. "
        f"{args.probes} probes per tool and delay, fresh connection each, round-robin, in one run.",
        "",
        "| injected delay | " + " | ".join(f"{t} median TTFB" for t in tools) + " | "
        + " | ".join(f"{t} median abs error" for t in tools) + " |",
        "|---:|" + "---:|" * (2 * len(tools)),
    ]
    for d in args.delays:
        lines.append(f"| {d} ms | " + " | ".join(f"{med(t, d):.2f} ms" for t in tools) + " | "
                     + " | ".join(f"{mae(t, [d]):.3f} ms" for t in tools) + " |")
    all_err = {t: mae(t, args.delays) for t in tools}
    nominal = {t: mae(t, args.delays, nominal=True) for t in tools}
    lags = [lag for rows in results.values() for _, _, lag in rows]
    waits_over = [wait - d for (t, d), rows in results.items() for _, wait, _ in rows]

    def vs_curl(t: str, err: dict[str, float]) -> str:
        return f"{err[t] / err['curl']:.2f}x curl" if err["curl"] > 0 else "n/a"

    lines.append("| all | " + " | " * len(tools) + " | ".join(
        f"**{all_err[t]:.3f} ms** ({vs_curl(t, all_err)})" if t != "curl" else f"**{all_err[t]:.3f} ms**"
        for t in tools) + " |")
    lines += [
        "",
        "Error = measured TTFB - the server's wait for that request (from the kernel's receive time of the "
        "request to the reply's write, read back from the server by request id): what the tool adds on top of "
        "the server. Against the nominal delay instead: "
        + ", ".join(f"{t} {nominal[t]:.3f} ms" for t in tools)
        + f". The server's wait overran the nominal delay by {statistics.median(waits_over):.3f} ms median "
        f"(max {max(waits_over):.2f}); its thread read the request {statistics.median(lags):.3f} ms median after "
        f"the kernel had it (max {max(lags):.2f}). Ran in {time.monotonic() - t_run:.0f} s.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
