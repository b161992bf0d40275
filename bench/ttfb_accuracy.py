#!/usr/bin/env python3
"""TTFB accuracy: opsdash's HTTPProbe vs curl vs prometheus-blackbox-exporter.

    python bench/ttfb_accuracy.py [--delays 50 150 400] [--probes 20]

A small HTTP/1.1 server (its own process, 127.0.0.1) reads the request, then
waits a known delay before it writes the first byte of the response (status
line, headers and a 1 KiB body in one write; ``Connection: close``). The
delay comes from the path, ``/delay/150``. Each tool probes it with a fresh
connection, in turn (round-robin, so load drifts hit all three alike):

  - opsdash: ``HTTPProbe.probe()``, the collector's probe; TTFB = ``phases.ttfb_ms``
    (start of the probe -> response head received, cumulative like curl's);
  - curl: ``curl -s -o /dev/null -w %{time_starttransfer}``, one process per probe;
  - blackbox exporter (Debian ``prometheus-blackbox-exporter``), on a loopback
    port with an ``http`` module, ``/probe?module=http_ttfb&target=URL``;
    TTFB = sum of ``probe_http_duration_seconds`` for phases resolve + connect +
    tls + processing (everything up to the first response byte).

Error = measured TTFB - injected delay (connect + request + server overhead on
loopback is well under a millisecond, so the error is what the tool adds).
Reports the median and the median absolute error per tool and delay, and the
peers' error as a ratio of opsdash's. Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opsdash.collect.http import HTTPProbe  # noqa: E402
from opsdash.config import EndpointConfig  # noqa: E402

BODY = b"x" * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, ready: "multiprocessing.synchronize.Event") -> None:
    """One thread per connection; the delay starts once the request head is read."""
    import threading

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    ready.set()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            t_head = time.perf_counter()
            m = re.match(rb"[A-Z]+ /delay/(\d+)", buf)
            delay = int(m.group(1)) / 1000.0 if m else 0.0
            # sleep most of it, then spin the last ms: the injected delay is exact to ~0.05 ms
            rest = delay - (time.perf_counter() - t_head)
            if rest > 0.002:
                time.sleep(rest - 0.002)
            while time.perf_counter() - t_head < delay:
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(BODY) + BODY)

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delays", type=int, nargs="+", default=[50, 150, 400], metavar="MS")
    ap.add_argument("--probes", type=int, default=20, help="probes per tool and delay")
    args = ap.parse_args()
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed")
    load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    tmp = Path(tempfile.mkdtemp(prefix="opsdash-ttfb-"))
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(10)
    bb, bb_port = start_blackbox(tmp)
    curl_version = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1]
    bb_version = subprocess.run([bb.args[0], "--version"], capture_output=True, text=True)
    bb_version = re.search(r"version (\S+)", bb_version.stdout + bb_version.stderr)
    results: dict[tuple[str, int], list[float]] = {}
    loop = asyncio.new_event_loop()
    probe = HTTPProbe()
    try:
        loop.run_until_complete(probe.warm_up())
        for delay in args.delays:
            url = f"http://127.0.0.1:{port}/delay/{delay}"
            ep = EndpointConfig(name=f"d{delay}", url=url, timeout=5.0)
            # one unrecorded warm-up each
            loop.run_until_complete(opsdash_ttfb(probe, ep))
            curl_ttfb(url)
            blackbox_ttfb(bb_port, url)
            for _ in range(args.probes):
                results.setdefault(("opsdash", delay), []).append(loop.run_until_complete(opsdash_ttfb(probe, ep)))
                results.setdefault(("curl", delay), []).append(curl_ttfb(url))
                results.setdefault(("blackbox", delay), []).append(blackbox_ttfb(bb_port, url))
            print(f"delay {delay} ms: " + ", ".join(
                f"{t} median {statistics.median(results[(t, delay)]):.2f} ms" for t in ("opsdash", "curl", "blackbox")),
                file=sys.stderr)
    finally:
        loop.run_until_complete(probe.close())
        loop.close()
        bb.terminate()
        bb.wait(5)
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def mae(tool: str, delays: list[int]) -> float:
        return statistics.median(abs(x - d) for d in delays for x in results[(tool, d)])

    tools = ("opsdash", "curl", "blackbox")
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; curl {curl_version}, blackbox exporter "
        f"{bb_version.group(1) if bb_version else '?'}; load average {load0} at start, {load1} at the end. "
        f"{args.probes} probes per tool and delay, fresh connection each, round-robin.",
        "",
        "| injected delay | opsdash median TTFB | curl median | blackbox median | opsdash median abs error "
        "| curl median abs error | blackbox median abs error |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in args.delays:
        med = [statistics.median(results[(t, d)]) for t in tools]
        err = [mae(t, [d]) for t in tools]
        lines.append(f"| {d} ms | " + " | ".join(f"{m:.2f} ms" for m in med) + " | "
                     + " | ".join(f"{e:.2f} ms" for e in err) + " |")
    all_err = {t: mae(t, args.delays) for t in tools}
    o = all_err["opsdash"]

    def ratio(t: str) -> str:
        return f"opsdash/{t} = {o / all_err[t]:.1f}x" if all_err[t] > 0 else "n/a"

    gap = statistics.median(abs(statistics.median(results[("opsdash", d)]) - statistics.median(results[("curl", d)]))
                            for d in args.delays)
    lines += [
        f"| all | | | | **{o:.2f} ms** | {all_err['curl']:.2f} ms ({ratio('curl')}) | "
        f"{all_err['blackbox']:.2f} ms ({ratio('blackbox')}) |",
        "",
        "Error = measured TTFB - injected delay; it includes the loopback connect and request "
        "(tens of microseconds), so it is what each tool adds on top of the server's wait. "
        "The ratio is opsdash's median absolute error over the peer's (above 1: opsdash strays further). "
        f"opsdash vs curl, median difference of the medians: {gap:.2f} ms.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
