"""The alert queue from the shell: `alerts`, `ack`, `unack`, `silence`, `unsilence`, `escalate`.

Every action is written to the store at once (a committed transaction), so the
collector and every viewer see it, and it survives a kill -9. An unknown alert
or silence id exits 3; alert ids may be shortened to any unique prefix. A
silence matcher an alert cannot carry (``targt=web1``) exits 3 with a
did-you-mean. `silence` and `unsilence` are mirrored to the Alertmanager
sources whose alerts they cover. `alerts` says when the store's data is stale.
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
    p = sub.add_parser("alerts", parents=[common], help="list the alert queue (pending, firing, flapping) and silences")
    p.add_argument("--all", action="store_true", help="resolved alerts too")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--group-by", metavar="KEY", help="group by rule, target, severity, or a tag/label key")
    p.set_defaults(func=run_alerts, error_exit=3)

    p = sub.add_parser("ack", parents=[common], help="acknowledge an alert (who = $USER)")
    p.add_argument("id", metavar="ID", help="alert id (a unique prefix is enough)")
    p.add_argument("--note", default="", metavar="TEXT", help="what you are doing about it")
    p.add_argument("--sticky", action="store_true", help="keep the ack through severity changes until it resolves")
    p.add_argument("--expires", type=_common.duration_arg, metavar="D", help='the ack lapses after D, like "2h"')
    p.set_defaults(func=run_ack, error_exit=3)

    p = sub.add_parser("unack", parents=[common], help="remove an alert's acknowledgement")
    p.add_argument("id", metavar="ID")
    p.set_defaults(func=run_unack, error_exit=3)

    p = sub.add_parser("silence", parents=[common], help="silence alerts matching key=value for a duration")
    p.add_argument("--match", action="append", required=True, metavar="K=V",
                   help="target=, rule=, severity=, or a tag/label; repeat to narrow")
    p.add_argument("--for", dest="duration", type=_common.duration_arg, required=True, metavar="D", help='like "2h"')
    p.add_argument("--note", default="", metavar="TEXT")
    p.add_argument("--until-resolved", action="store_true", help="end the silence when the matched alerts resolve")
    p.set_defaults(func=run_silence, error_exit=3)

    p = sub.add_parser("unsilence", parents=[common], help="end a silence now (here and in Alertmanager)")
    p.add_argument("id", metavar="ID", help="silence number, as `opsdash alerts` lists it (12 or #12)")
    p.set_defaults(func=run_unsilence, error_exit=3)

    p = sub.add_parser("escalate", parents=[common],
                       help="escalate an alert to the next tier; prints the escalation packet")
    p.add_argument("id", metavar="ID")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.set_defaults(func=run_escalate, error_exit=3)


def _fail(e: OpsdashError) -> int:
    print(f"opsdash: {e}", file=sys.stderr)
    return 3


def _ago(now: float, t: float) -> str:
    from ..config import format_duration

    return format_duration(max(0, round(now - t)))


def run_alerts(args: argparse.Namespace) -> int:
    from ..alerts.engine import group_alerts
    from ..alerts.queue import describe_silence

    from ..report.staleness import staleness_line

    now = time.time()
    with _common.open_store(args) as store:
        stale = staleness_line(store, now)
        alerts = store.alerts(now=now) if args.all else store.alerts(states=("pending", "firing"), now=now)
        alerts.sort(key=lambda a: (a.state != "firing", a.severity != "critical", a.since))
        silences = store.active_silences(now)
        notes = {a.id: store.notes(alert_id=a.id) for a in alerts}
        if args.format == "json":
            out = []
            for a in alerts:
                d = a.to_json()
                d["labels"] = a.labels
                d["ack_by"] = a.ack_by
                d["notes"] = [{"t": iso(n.t), "who": n.who, "text": n.text} for n in notes[a.id]]
                out.append(d)
            sil = [{"id": s.id, "matchers": s.matchers, "who": s.who, "note": s.note, "ends_at": iso(s.ends_at),
                    "until_resolved": s.until_resolved} for s in silences]
            json.dump({"alerts": out, "silences": sil, "stale": stale}, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return 0
        if stale:
            print(stale)
        if not alerts:
            print("no alerts" if args.all else "no pending or firing alerts")
        groups = group_alerts(alerts, args.group_by) if args.group_by else {"": alerts}
        for name, items in groups.items():
            if name:
                print(f"== {args.group_by} = {name} ({len(items)})")
            for a in items:
                flags = [f for f, on in (("ACK", a.acked), ("SILENCED", a.silenced), ("FLAPPING", a.flapping),
                                         ("INHIBITED", a.inhibited), ("SUPPRESSED", bool(a.suppressed_by))) if on]
                value = "" if a.value is None else f"{a.value:g}"
                print(f"{a.id}  {a.severity.upper():<8} {a.state:<8} {a.tier}  {a.target:<16} {a.rule:<18} "
                      f"since {iso(a.since)} ({_ago(now, a.since)} ago)  value {value}"
                      + (f"  [{' '.join(flags)}]" if flags else ""))
                if a.summary:
                    print(f"    {a.summary}")
                if a.runbook:
                    print(f"    runbook: {a.runbook}")
                if a.suppressed_by:  # a maintenance window or a parent down: shown, not paged
                    print(f"    suppressed: {a.suppressed_by}")
                if a.acked:
                    print(f"    acked by {a.ack_by}" + (f": {a.ack_note}" if a.ack_note else ""))
                for n in notes[a.id][-3:]:
                    print(f"    note {iso(n.t)} {n.who}: {n.text}")
        if silences:
            print("silences:")
            for s in silences:
                print(f"    {describe_silence(s, now)}")
    return 0


def run_ack(args: argparse.Namespace) -> int:
    from ..alerts import queue

    with _common.open_store(args) as store:
        try:
            a = queue.ack(store, args.id, note=args.note, sticky=args.sticky, expires=args.expires)
        except OpsdashError as e:
            return _fail(e)
    kind = "sticky ack" if args.sticky else "ack"
    print(f"{a.id} {a.rule} on {a.target}: {kind} by {a.ack_by}" + (f": {args.note}" if args.note else ""))
    return 0


def run_unack(args: argparse.Namespace) -> int:
    from ..alerts import queue

    with _common.open_store(args) as store:
        try:
            a = queue.find_alert(store, args.id)
            n = queue.unack(store, a.id)
        except OpsdashError as e:
            return _fail(e)
    print(f"{a.id} {a.rule} on {a.target}: " + ("ack removed" if n else "was not acked"))
    return 0


def _config_or_none(args: argparse.Namespace):
    """The config if there is one: queue commands work on a store alone."""
    try:
        return _common.load(args, required=True)
    except OpsdashError:
        return None


def run_silence(args: argparse.Namespace) -> int:
    from ..alerts import queue
    from ..collect.alertmanager import push_silence_sync
    from ..config import format_duration

    config = _config_or_none(args)
    with _common.open_store(args) as store:
        try:
            vocabulary = queue.vocabulary_from_store(store, config)
            matchers = queue.parse_matchers(args.match, vocabulary)
        except OpsdashError as e:
            print(f"opsdash: silence --match {e}", file=sys.stderr)
            return 3
        try:
            sid = queue.silence(store, matchers, args.duration, note=args.note, until_resolved=args.until_resolved)
        except OpsdashError as e:
            return _fail(e)
        # Alerts that came from Alertmanager are silenced there too, so its receivers stay quiet.
        for source, outcome in push_silence_sync(store, config, sid).items():
            print(f"alertmanager {source}: {outcome}")
        hit = queue.silence_matches(store, matchers)
    m = ",".join(f"{k}={v}" for k, v in matchers.items())
    print(f"silence #{sid}: {m} for {format_duration(args.duration)}"
          + (" or until resolved" if args.until_resolved else "")
          + f"; {len(hit)} active alert(s) silenced now")
    return 0


def run_unsilence(args: argparse.Namespace) -> int:
    """End a silence here (queue.unsilence), then its copies in Alertmanager (expire_silence_sync)."""
    from ..alerts import queue
    from ..collect.alertmanager import expire_silence_sync

    now = time.time()
    with _common.open_store(args) as store:
        try:
            s = queue.find_silence(store, args.id)
            ended = queue.unsilence(store, s.id, now=now)
        except OpsdashError as e:
            return _fail(e)
        # Also when it had ended here already: a copy in Alertmanager may still be active.
        mirrored = expire_silence_sync(store, _config_or_none(args), s.id) if s.external_id else {}
    m = ",".join(f"{k}={v}" for k, v in s.matchers.items())
    for source, outcome in mirrored.items():
        print(f"alertmanager {source}: {outcome}")
    print(f"silence #{s.id}: {m}: " + ("ended" if ended else "had already ended"))
    return 0


def run_escalate(args: argparse.Namespace) -> int:
    """Bump the tier (queue.escalate) and print the packet the next tier needs (report/escalation.py)."""
    from ..alerts import queue
    from ..report.escalation import packet, to_json, to_markdown

    cfg = _common.load(args)
    with _common.open_store(args) as store:
        try:
            esc = queue.escalate(store, args.id)
        except OpsdashError as e:
            return _fail(e)
        if not esc.changed:
            print(f"opsdash: {esc.alert.id} is already at {esc.to_tier}, the top tier", file=sys.stderr)
        p = packet(store, esc.alert, cfg, now=esc.t, escalation=esc)
    sys.stdout.write(to_json(p) if args.format == "json" else to_markdown(p))
    return 0
