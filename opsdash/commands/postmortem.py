"""`opsdash postmortem ID [--out F] [--done]`: a Markdown draft from the incident.

The draft (report/postmortem.py) holds the summary, the impact, the timeline
and what was tried, and leaves root cause, contributing factors and action
items for people to write. ``--out`` writes it atomically, 0600 like the
handover file (it quotes notes and hosts' output), and records that a draft
exists; ``--done`` marks the postmortem written, so the handover stops
listing it as due or late.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("postmortem", parents=[common], help="a Markdown postmortem draft from an incident")
    p.add_argument("id", metavar="ID", help="the incident id")
    p.add_argument("--out", metavar="F", help="write the draft to F (0600) instead of stdout")
    p.add_argument("--done", action="store_true",
                   help="mark the incident's postmortem written (the handover stops listing it)")
    p.set_defaults(func=run, error_exit=3)


def run(args: argparse.Namespace) -> int:
    from .. import incidents
    from ..report.postmortem import postmortem_markdown
    from ..store import current_user
    from .incident import _config_or_none

    cfg = _config_or_none(args)
    now = time.time()
    with _common.open_store(args) as store:
        inc = incidents.find(store, args.id)  # an unknown id: cli.main says so, exit 3
        if args.done:
            store.update_incident(inc.id, who=current_user(), kind="postmortem", text="marked done", t=now,
                                  data={"done": True})
            print(f"incident {inc.id}: postmortem marked done")
            return 0
        text = postmortem_markdown(incidents.view(store, inc.id, cfg, now))
        if not args.out:
            sys.stdout.write(text)
            return 0
        if not _common.write_out(args.out, text):
            return 1
        store.update_incident(inc.id, who=current_user(), kind="postmortem", text=f"draft written to {args.out}",
                              t=now, data={"done": False, "path": str(args.out)})
    return 0
