"""`opsdash notify status [--format json]`: queued, sent and failing notifications per target.

Reads the store's outbox (what the collector queued for each [[notify]] target and
whether it was delivered). Exit 0 (a failing receiver is shown, not an error of this
command).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..textsafe import redact_url
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("notify", parents=[common], help="notification targets: what is queued, sent and failing")
    nsub = p.add_subparsers(dest="notify_command", metavar="SUBCOMMAND")
    s = nsub.add_parser("status", parents=[common], help="queued, sent and failing notifications per target")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.add_argument("--limit", type=int, default=20, metavar="N", help="list at most N unsent notifications")
    s.set_defaults(func=run_status)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_status(args: argparse.Namespace) -> int:
    from ..notify.status import notify_status, to_text

    config = _common.load(args)
    path = _common.store_path(args)
    if not path.exists():
        report = {"now": None, "targets": [], "unsent": []}
        if config.notify:
            report = {"now": None, "unsent": [], "targets": [
                {"name": t.name, "kind": t.kind, "where": redact_url(t.url) if t.url else f"smtp {t.smtp}", "queued": 0, "failing": 0,
                 "sent": 0, "rejected": 0, "oldest_unsent": None, "last_sent": None, "last_error": None}
                for t in config.notify]}
    else:
        with _common.open_store(args, readonly=True) as store:
            report = notify_status(store, config, limit=max(0, args.limit))
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(to_text(report))
    return 0
