"""`opsdash collect`: the headless collector writing the store."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from ..alerts.engine import engine_for
from ..collect.collector import Collector
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
    for warning in warn_world_readable_secrets(config):
        print(f"opsdash: warning: {warning}", file=sys.stderr)
    store = _common.open_store(args)
    collector = Collector(config, store, alert_engine=engine_for(config, store),
                          run_restore_tests=not args.no_restore_tests)
    stats = asyncio.run(_main(collector, args))
    store.close()
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            json.dump(stats, f, indent=2)
            f.write("\n")
    return 0


async def _main(collector: Collector, args: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    # SIGTERM/SIGINT: finish the current write, then exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, collector.stop)
    server = None
    if args.metrics_listen:
        try:
            from ..collect.metrics_out import serve_metrics
        except ImportError:
            print("opsdash: --metrics-listen is not available in this build", file=sys.stderr)
        else:
            server = await serve_metrics(collector, args.metrics_listen)
    try:
        return await collector.run(duration=args.duration)
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
