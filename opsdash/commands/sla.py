"""`opsdash sla`: availability, TTFB-p95 compliance and error budget per endpoint, the
burn-rate alert times, and MTTA/MTTR by severity and tier against `[sla] targets`.

    opsdash sla [--since 30d] [--format md|json] [--out F]

Read from the store (opsdash/report/sla.py says what each figure is; opsdash/sla.py
how time is counted). The periods are the last 7 days and the last --since.
"""

from __future__ import annotations

import argparse
import time

from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sla", parents=[common],
                       help="SLA figures: availability, error budget, burn-rate alerts, MTTA/MTTR")
    p.add_argument("--since", type=_common.duration_arg, default=30 * 86400.0, metavar="D",
                   help='the longest period (default "30d"; the last 7 days are shown too)')
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("--out", metavar="F", help="write the report to F instead of stdout")
    p.set_defaults(func=run, error_exit=1)


def run(args: argparse.Namespace) -> int:
    from ..report.sla import sla_report, to_json, to_markdown

    cfg = _common.load(args)
    with _common.open_store(args) as store:
        report = sla_report(store, cfg, since=args.since, now=time.time())
    return _common.emit(args, to_json(report) if args.format == "json" else to_markdown(report))
