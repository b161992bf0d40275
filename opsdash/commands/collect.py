"""`opsdash collect`: the headless collector writing the store.

One per store: it takes the store's collector lock before anything else and
refuses, naming the holder's PID, when another collector has it. It talks to
stderr in journal style, plain ``LEVEL message`` lines (systemd adds the time
and unit): one at start, one per store outage and recovery, one per alert
that pages or resolves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from ..alerts.engine import engine_for
from ..collect.collector import Collector
from ..collector_lock import CollectorLock
from ..notify import notifier_for
from ..security import warn_world_readable_secrets
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("collect", parents=[common], help="run the collector headless, writing the store")
    p.add_argument("--duration", type=_common.duration_arg, metavar="D", help="stop after D (e.g. 30s, 10m)")
    p.add_argument("--stats-json", metavar="FILE", help="write poll statistics to FILE on exit")
    p.add_argument("--metrics-listen", metavar="ADDR", help="serve Prometheus metrics on ADDR (host:port)")
    p.add_argument("--no-restore-tests", action="store_true", help="do not run scheduled restore tests")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = _common.load(args)
    # Before the store is opened: a second collector must not even migrate it. CollectorBusy
    # is an OpsdashError: one line naming the PID, exit 1.
    lock = CollectorLock(_common.store_path(args)).acquire()
    try:
        _log_to_stderr()
        for warning in warn_world_readable_secrets(config):
            print(f"opsdash: warning: {warning}", file=sys.stderr)
        store = _common.open_store(args)
        try:
            engine = engine_for(config, store)
            logging.getLogger("opsdash.collect").info("%s", _start_line(config, store.path, engine))
            collector = Collector(config, store, alert_engine=engine, run_restore_tests=not args.no_restore_tests,
                                  lock=lock, notifier=notifier_for(config, store))
            stats = asyncio.run(_main(collector, args))
            logging.getLogger("opsdash.collect").info(
                "collector stopped after %.0fs: %d polls, %d failed", stats["duration_s"], stats["polls"],
                stats["polls_failed"])
        finally:
            store.close()
    finally:
        lock.release()
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            json.dump(stats, f, indent=2)
            f.write("\n")
    return 0


def _log_to_stderr() -> None:
    """One handler, on the package's logger: ``LEVEL message``, no colour, no timestamps
    (the journal has them). Idempotent, for tests that run the command twice in a process."""
    root = logging.getLogger("opsdash")
    if not any(isinstance(h, _Stderr) for h in root.handlers):
        h = _Stderr()
        h.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        root.addHandler(h)
    root.setLevel(logging.INFO)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (a test's capture, a redirect)."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _start_line(config: object, store_path: object, engine: object) -> str:
    c = config  # type: ignore[assignment]
    hosts = len(c.hosts)  # type: ignore[attr-defined]
    caches = sum(len(h.caches) for h in c.hosts)  # type: ignore[attr-defined]
    backups = sum(len(h.backups) for h in c.hosts)  # type: ignore[attr-defined]
    parts = [f"{hosts} host{'s' * (hosts != 1)}", f"{len(c.endpoints)} endpoint{'s' * (len(c.endpoints) != 1)}",  # type: ignore[attr-defined]
             f"{caches} cache{'s' * (caches != 1)}", f"{backups} backup{'s' * (backups != 1)}",
             f"{len(c.sources)} source{'s' * (len(c.sources) != 1)}",  # type: ignore[attr-defined]
             f"{len(engine.rules)} rules"]
    return (f"collector started (PID {os.getpid()}): config {c.path or '(none: this machine only)'}, "  # type: ignore[attr-defined]
            f"store {store_path}; watching {', '.join(parts)}")


async def _main(collector: Collector, args: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    # SIGTERM/SIGINT: finish the current write, then exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, collector.stop)
    server = None
    if args.metrics_listen:
        from ..collect.metrics_out import serve_metrics

        server = await serve_metrics(collector, args.metrics_listen)
    try:
        return await collector.run(duration=args.duration)
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
