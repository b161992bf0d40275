"""`opsdash incident ...`: incidents from the shell (opsdash/incidents.py does the work).

    opsdash incident open TEXT [--severity P1..P4] [--owner NAME]   prints the new id
    opsdash incident list [--all] [--format text|json]
    opsdash incident show ID [--format md|json]
    opsdash incident link ID ALERT / unlink ID ALERT
    opsdash incident status ID STATUS [--note T]
    opsdash incident note ID TEXT
    opsdash incident checklist ID ITEM TEXT      ITEM: symptoms | reproduction | environment | tried
    opsdash incident escalate ID                 exit 3 naming the first empty checklist item

Every change is committed to the store at once, with its time and who ($USER).
An unknown incident or alert id, a bad status or item exits 3 with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..errors import OpsdashError
from ..model import iso
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("incident", parents=[common], help="incidents: open, link alerts, status, checklist, escalate",
                       description="Incidents from a plain-words report to a postmortem (see `opsdash postmortem`).")
    isub = p.add_subparsers(dest="incident_command", metavar="ACTION", required=True)

    def add(name: str, help: str, func) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        q = isub.add_parser(name, parents=[common], help=help)
        q.set_defaults(func=func, error_exit=3)
        return q

    q = add("open", "open an incident from what was reported; prints its id", run_open)
    q.add_argument("text", metavar="TEXT", help="what was reported, in plain words")
    q.add_argument("--severity", metavar="SEV", help="a [[severities]] name (default P1..P4; default: the second least severe)")
    q.add_argument("--owner", metavar="NAME")
    q = add("list", "list incidents (open ones; --all for resolved too)", run_list)
    q.add_argument("--all", action="store_true")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q = add("show", "the incident: checklist, linked and proposed alerts, timeline", run_show)
    q.add_argument("id", metavar="ID")
    q.add_argument("--format", choices=("md", "json"), default="md")
    for name, func in (("link", run_link), ("unlink", run_unlink)):
        q = add(name, f"{name} an alert (a unique prefix of its id is enough)", func)
        q.add_argument("id", metavar="ID")
        q.add_argument("alert", metavar="ALERT")
    q = add("status", "investigating | identified | monitoring | resolved", run_status)
    q.add_argument("id", metavar="ID")
    q.add_argument("status", metavar="STATUS")
    q.add_argument("--note", default="", metavar="T", help="why (it shows in the timeline)")
    q = add("note", "a note on the incident (what was tried, what was seen)", run_note)
    q.add_argument("id", metavar="ID")
    q.add_argument("text", metavar="TEXT")
    q = add("checklist", "fill a triage checklist item: symptoms, reproduction, environment, tried", run_checklist)
    q.add_argument("id", metavar="ID")
    q.add_argument("item", metavar="ITEM")
    q.add_argument("text", metavar="TEXT")
    q = add("escalate", "to the next tier, once the checklist is complete", run_escalate)
    q.add_argument("id", metavar="ID")


def _config_or_none(args: argparse.Namespace):
    """The config if there is one: incident commands work on a store alone (default severities)."""
    try:
        return _common.load(args, required=True)
    except OpsdashError:
        return None


def _who() -> str:
    from ..store import current_user

    return current_user()


def run_open(args: argparse.Namespace) -> int:
    from .. import incidents
    from ..config import DEFAULT_SEVERITIES

    cfg = _config_or_none(args)
    now = time.time()
    with _common.open_store(args) as store:
        inc = incidents.open_incident(store, args.text, who=_who(), now=now, severity=args.severity,
                                      owner=args.owner, severities=cfg.severities if cfg else DEFAULT_SEVERITIES)
        v = incidents.view(store, inc.id, cfg, now)
    print(inc.id)  # stdout: the id alone, for scripts
    alerts = [p for p in v["proposals"] if p["alert_id"]][:5]
    print(f"incident {inc.id} opened ({inc.severity}, investigating); "
          + (f"{len(alerts)} alert(s) proposed, link with `opsdash incident link {inc.id} ALERT`:" if alerts
             else "no alert proposed"), file=sys.stderr)
    for p in alerts:
        print(f"  {p['alert_id']}  {p['rule']} on {p['target']} ({p['state']}): {'; '.join(p['reasons'])}",
              file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    now = time.time()
    with _common.open_store(args) as store:
        rows = store.incidents(open_only=not args.all)
        linked = {i.id: len(store.incident_alerts(i.id)) for i in rows}
    if args.format == "json":
        json.dump([{"id": i.id, "text": i.text, "severity": i.severity, "owner": i.owner, "status": i.status,
                    "tier": i.tier, "opened_at": iso(i.t), "resolved_at": iso(i.resolved_at),
                    "linked": linked[i.id]} for i in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no incidents" if args.all else "no open incidents")
    from ..config import format_duration

    for i in rows:
        age = format_duration(max(0, round((i.resolved_at or now) - i.t)))
        print(f"{i.id:>4}  {i.severity:<3} {i.status:<13} {i.tier}  opened {iso(i.t)} ({age})  "
              f"{linked[i.id]} alert(s)  {i.owner or '-'}  {i.text}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from .. import incidents
    from ..report.postmortem import incident_markdown, to_json

    cfg = _config_or_none(args)
    with _common.open_store(args) as store:
        v = incidents.view(store, args.id, cfg, time.time())
    sys.stdout.write(to_json(v) if args.format == "json" else incident_markdown(v))
    return 0


def run_link(args: argparse.Namespace) -> int:
    from .. import incidents

    with _common.open_store(args) as store:
        inc, a, new = incidents.link(store, args.id, args.alert, who=_who(), now=time.time())
    print(f"incident {inc.id}: {'linked' if new else 'already linked'} {a.id} {a.rule} on {a.target}")
    return 0


def run_unlink(args: argparse.Namespace) -> int:
    from .. import incidents

    with _common.open_store(args) as store:
        inc, aid, _ = incidents.unlink(store, args.id, args.alert, who=_who(), now=time.time())
    print(f"incident {inc.id}: unlinked {aid}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from .. import incidents

    with _common.open_store(args) as store:
        frm, to = incidents.set_status(store, args.id, args.status, who=_who(), now=time.time(), note=args.note)
    print(f"incident {incidents.parse_id(args.id)}: {frm} -> {to}" + (f": {args.note}" if args.note else ""))
    return 0


def run_note(args: argparse.Namespace) -> int:
    from .. import incidents

    with _common.open_store(args) as store:
        incidents.add_note(store, args.id, args.text, who=_who(), now=time.time())
    print(f"incident {incidents.parse_id(args.id)}: note saved")
    return 0


def run_checklist(args: argparse.Namespace) -> int:
    from .. import incidents

    with _common.open_store(args) as store:
        item = incidents.set_checklist(store, args.id, args.item, args.text, who=_who(), now=time.time())
        missing = incidents.missing_items(store, incidents.parse_id(args.id))
    print(f"incident {incidents.parse_id(args.id)}: {item} saved; "
          + (f"still empty: {', '.join(missing)}" if missing else "checklist complete, ready to escalate"))
    return 0


def run_escalate(args: argparse.Namespace) -> int:
    from .. import incidents

    with _common.open_store(args) as store:
        frm, to = incidents.escalate(store, args.id, who=_who(), now=time.time())
    print(f"incident {incidents.parse_id(args.id)}: escalated {frm} -> {to}")
    return 0
