"""`opsdash handover` (the shift report) and `opsdash note` (a note for the next shift).

    opsdash handover [--since 8h] [--format md|json] [--out F]
    opsdash note TEXT [--target T]

The report is read from the store (see opsdash/report/handover.py for what it
holds); Markdown pastes cleanly into chat or a wiki, JSON has the same content.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("handover", parents=[common], help="the shift report: what happened, what is still open")
    p.add_argument("--since", type=_common.duration_arg, default=8 * 3600.0, metavar="D",
                   help='the shift\'s length (default "8h")')
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("--out", metavar="F", help="write the report to F instead of stdout")
    p.set_defaults(func=run_handover, error_exit=1)

    p = sub.add_parser("note", parents=[common], help="leave a note for the next shift (shows in the handover)")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--target", metavar="T", help="the host or endpoint the note is about")
    p.set_defaults(func=run_note, error_exit=1)


def run_handover(args: argparse.Namespace) -> int:
    from ..report.handover import handover, to_json, to_markdown

    cfg = _common.load(args)
    with _common.open_store(args) as store:
        report = handover(store, cfg, since=args.since, now=time.time())
    return _common.emit(args, to_json(report) if args.format == "json" else to_markdown(report))


def run_note(args: argparse.Namespace) -> int:
    from ..store import current_user

    text = args.text.strip()
    if not text:
        print("opsdash: a note needs some text", file=sys.stderr)
        return 1
    with _common.open_store(args) as store:
        nid = store.add_note(text, who=current_user(), target=args.target or None)
    print(f"note #{nid} saved" + (f" on {args.target}" if args.target else "") + "; it shows in `opsdash handover`")
    return 0
