"""`opsdash demo`: a simulated fleet on loopback and the dashboard against it.

The fleet (opsdash/demo/fleet.py) runs as a separate process with real SSH
and HTTP servers; opsdash reaches it through its ordinary probes, with a
config written for it (opsdash/demo/config.py). The fleet is stopped by PID
on every way out (q, Ctrl+C, SIGTERM, an error), and stops by itself if
this process dies without a word (it watches its parent).

The history goes to ``--store`` or, by default, into the demo directory, so
the demo never mixes simulated hosts into your real store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..collect.collector import Collector
from ..config import load_config
from ..demo.config import make_keys, write_config
from ..demo.fleet import READY_FILE
from ..errors import OpsdashError
from ..store import Store
from . import _common

READY_TIMEOUT = 30.0


class _Stop(Exception):
    """SIGTERM/SIGHUP outside the collector's own handling: unwind, stop the fleet."""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo", parents=[common], help="a simulated fleet on loopback, and the dashboard against it",
        description="Start a simulated fleet (real SSH and HTTP servers on 127.0.0.1, a separate process) and "
                    "the TUI against it. The demo writes its own config; its history goes to --store, else "
                    "into the demo directory (never your real store).",
    )
    p.add_argument("--hosts", type=int, default=12, metavar="N", help="fleet size (12 tell the story; more for load tests)")
    p.add_argument("--headless", action="store_true", help="no TUI: run fleet and collector, filling the store")
    p.add_argument("--duration", type=_common.duration_arg, metavar="D", help="stop after D (e.g. 60s, 10m)")
    p.add_argument("--dir", metavar="DIR", help="keep keys, config.toml and the store here (default: a temp dir, removed on exit)")
    p.add_argument("--speed", type=float, default=1.0, metavar="X", help="story seconds per real second (default 1)")
    p.add_argument("--start", type=_common.duration_arg, default=0.0, metavar="T", help="begin the story at T (e.g. 4m)")
    p.add_argument("--stats-json", metavar="FILE", help="headless: write poll statistics to FILE on exit")
    p.add_argument("--port", type=int, metavar="PORT",
                   help="the fleet's SSH port on 127.0.0.1, its HTTP endpoints on PORT+1 (default: any free ports)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.hosts < 1:
        raise _common.bad_argument("--hosts", f"expected an integer >= 1, got {args.hosts}")
    if args.speed <= 0:
        raise _common.bad_argument("--speed", f"expected a number > 0, got {args.speed:g}")
    if args.port is not None and not 1 <= args.port <= 65534:
        raise _common.bad_argument("--port", f"expected a port 1-65534 (HTTP takes the next one), got {args.port}")
    if args.config:
        print("opsdash demo: --config is ignored; the demo writes its own config", file=sys.stderr)
    if args.duration is not None and not args.headless:
        print("opsdash demo: --duration applies to --headless; the TUI runs until you quit", file=sys.stderr)
    if args.stats_json and not args.headless:
        print("opsdash demo: --stats-json applies to --headless", file=sys.stderr)
    _raise_fd_limit()
    d = Path(args.dir).expanduser() if args.dir else Path(tempfile.mkdtemp(prefix="opsdash-demo-"))
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    proc: subprocess.Popen | None = None
    try:
        make_keys(d)
        proc = start_fleet(d, args.hosts, speed=args.speed, start=args.start, port=args.port or 0)
        ready = wait_ready(d, proc)
        args.config = str(write_config(d, ready))
        args.store = args.store or str(d / "opsdash.sqlite")
        print(f"opsdash demo: {args.hosts} hosts on 127.0.0.1:{ready['ssh_port']} (ssh), endpoints on "
              f"127.0.0.1:{ready['http_port']}, fleet pid {proc.pid}; config {args.config}; store {args.store}",
              file=sys.stderr)
        if args.headless:
            return headless(args)
        from . import run as run_cmd  # the TUI, as `opsdash run` starts it

        return int(run_cmd.run(args) or 0)
    except _Stop:
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if proc is not None:
            stop_fleet(proc)
        if not args.dir:
            if args.store and Path(args.store).parent == d:
                print("opsdash demo: the demo directory is removed on exit; pass --store FILE or --dir DIR to keep "
                      "the history", file=sys.stderr)
            shutil.rmtree(d, ignore_errors=True)


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


def _raise_fd_limit() -> None:
    """A thousand SSH connections need more than the common soft limit of 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- the fleet process -------------------------------------------------------------------


def start_fleet(d: Path, hosts: int, *, speed: float = 1.0, start: float = 0.0, port: int = 0) -> subprocess.Popen:
    """The fleet process; ``port``: its SSH port and PORT+1 for HTTP (0: any free ones)."""
    (d / READY_FILE).unlink(missing_ok=True)
    log = open(d / "fleet.log", "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "opsdash.demo.fleet", "--dir", str(d), "--hosts", str(hosts),
             "--speed", repr(speed), "--start", repr(start), "--parent-pid", str(os.getpid()),
             "--port", str(port), "--http-port", str(port + 1 if port else 0)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,  # Ctrl+C in the terminal reaches us, and we stop it
        )
    finally:
        log.close()


def wait_ready(d: Path, proc: subprocess.Popen, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    path = d / READY_FILE
    while time.monotonic() < deadline:
        if path.exists():
            ready = json.loads(path.read_text())
            if ready.get("pid") == proc.pid:
                return ready
        if proc.poll() is not None:
            raise OpsdashError(f"the demo fleet exited with status {proc.returncode}; see {d / 'fleet.log'}")
        time.sleep(0.05)
    raise OpsdashError(f"the demo fleet did not start within {timeout:g}s; see {d / 'fleet.log'}")


def stop_fleet(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM by PID, then SIGKILL if it lingers; always reaped."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass


# --- what runs against it --------------------------------------------------------------


def headless(args: argparse.Namespace) -> int:
    from ..alerts.engine import engine_for

    config = load_config(args.config)
    store = Store(args.store)
    try:
        collector = Collector(config, store, alert_engine=engine_for(config, store))
        stats = asyncio.run(_collect(collector, args.duration))
        alerts = store.alerts()
    finally:
        store.close()
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            json.dump(stats, f, indent=2)
            f.write("\n")
    firing = sum(1 for a in alerts if a.state == "firing")
    print(f"opsdash demo: {stats['polls']} polls ({stats['polls_failed']} failed) in {stats['duration_s']:.0f}s, "
          f"{firing} alerts firing; store {args.store}", file=sys.stderr)
    return 0


async def _collect(collector: Collector, duration: float | None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, collector.stop)
    try:
        return await collector.run(duration=duration)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
