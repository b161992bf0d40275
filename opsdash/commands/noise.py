"""`opsdash noise`: what the TUI's Noise screen shows, per rule, on the command line.

    opsdash noise [--since 7d] [--shift 8h] [--format md|json]

Pages per day and per shift, alerts, flap %, acked/unacked and the median time to
ack, worst rule first (opsdash/report/noise.py; the table is the Noise screen's).
"""

from __future__ import annotations

import argparse
import sys
import time

from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("noise", parents=[common], help="per rule: pages per day and shift, flap %%, time to ack")
    p.add_argument("--since", type=_common.duration_arg, default=7 * 86400.0, metavar="D",
                   help='how far back (default "7d")')
    p.add_argument("--shift", type=_common.duration_arg, default=8 * 3600.0, metavar="D",
                   help='a shift\'s length, for pages per shift (default "8h")')
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.set_defaults(func=run, error_exit=1)


def run(args: argparse.Namespace) -> int:
    from ..report.noise import noise_report, to_json, to_markdown

    if args.since <= 0 or args.shift <= 0:
        raise _common.bad_argument("--since" if args.since <= 0 else "--shift", "expected a duration above 0")
    with _common.open_store(args) as store:
        report = noise_report(store, time.time(), since=args.since, shift=args.shift)
    sys.stdout.write(to_json(report) if args.format == "json" else to_markdown(report))
    return 0
