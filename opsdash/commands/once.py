"""`opsdash once`: one snapshot, printed, Nagios exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ..alerts.engine import AlertEngine
from ..alerts.dependencies import Dependencies
from ..alerts.rules import rules_from_config, tags_from_config
from ..collect.collector import Collector
from ..collect.sources import source_alerts, source_endpoints
from ..kinds.registry import host_kinds
from ..kinds.registry import kinds as registered_kinds
from ..model import Alert
from ..report.snapshot import NAGIOS, build, render_text
from . import _common

# The built-in probes, then every registered probe kind by name (dns, journeys, db ...).
PROBES = ("health", *(k.word for k in host_kinds()), "http", *(k.name for k in registered_kinds()))


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("once", parents=[common], help="one snapshot, printed; Nagios exit code")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--probe", metavar="LIST", help="comma-separated: " + ",".join(PROBES))
    p.add_argument("--http-samples", type=int, default=1, metavar="N", help="requests per endpoint (percentiles)")
    p.add_argument("--run-restore-tests", action="store_true", help="also run the backups' restore tests now")
    p.set_defaults(func=run, error_exit=3)


def instant_alerts(config, samples, collector: Collector | None = None) -> list[Alert]:
    """The rules evaluated on this one snapshot: thresholds only (no `for`, no attempts)."""
    rules = [r.instant() for r in rules_from_config(config)]
    tags = tags_from_config(config)
    engine = AlertEngine(rules, store=None, tags=lambda target: tags.get(target, {}), windows=config.maintenance,
                         dependencies=Dependencies.from_config(config))  # holds say why, as in the collector
    if collector is not None:
        engine.use_details(collector.failure_detail)  # "restore test failed: <why>"
    engine.observe(samples)
    return [a for a in engine.active() if a.state == "firing"]


def run(args: argparse.Namespace) -> int:
    probes = None
    if args.probe:
        probes = {p.strip() for p in args.probe.split(",") if p.strip()}
        unknown = probes - set(PROBES)
        if unknown:
            raise _common.bad_argument("--probe", f"expected some of {','.join(PROBES)}, got {','.join(sorted(unknown))}")
    if args.http_samples < 1:
        raise _common.bad_argument("--http-samples", f"expected an integer >= 1, got {args.http_samples}")
    config = _common.load(args)
    collector = Collector(config, store=None)
    samples = []
    collector.listeners.append(samples.extend)
    asyncio.run(collector.snapshot_once(probes=probes, http_samples=args.http_samples,
                                        restore_tests=args.run_restore_tests))
    alerts = instant_alerts(config, samples, collector) + source_alerts(collector)
    snap = build(collector, alerts, probes, source_endpoints=source_endpoints(collector))
    if args.format == "json":
        json.dump(snap, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(snap))
    return NAGIOS[snap["status"]]
