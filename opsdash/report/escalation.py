"""The escalation packet: what a higher tier needs so it does not start from zero.

``packet(store, alert, cfg=None, now=..., escalation=None)`` gathers, for one
alert: the symptoms (rule, metric, value, thresholds, since), the last hour of
the metric as numbers and a text sparkline, related alerts on the same
target, what was already tried (acks with notes, notes on the alert and on
the host), the environment (host tags, OS / kernel / uptime where the latest
rows have them, pending patches), the runbook link, recent transitions, and
the tier it goes to. ``to_markdown`` / ``to_json`` render it; every remote or
human string in the Markdown goes through ``handover.md`` (control characters
made visible, Markdown escaped).
"""

from __future__ import annotations

import json
import time
from typing import Any, Mapping

from ..config import Config, format_duration
from ..model import Alert, HostRow, PatchesRow, iso
from ..stats import sparkline
from ..store import Store
from ..textsafe import json_safe, redact_url
from .handover import _num, md

__all__ = ["packet", "to_json", "to_markdown"]

HISTORY_S = 3600.0


def _rule_for(alert: Alert, cfg: Config | None) -> Any:
    from ..alerts.rules import builtin_rules, rules_from_config

    rules = rules_from_config(cfg) if cfg is not None else builtin_rules()
    return next((r for r in rules if r.name == alert.rule), None)


def _series_labels(store: Store, target: str, metric: str, alert_labels: Mapping[str, str]) -> dict[str, str] | None:
    """The stored label set of the alert's series: the one whose labels are all in the alert's."""
    best = None
    for _t, _m, labels in store.series(target=target, metric=metric):
        if all(alert_labels.get(k) == v for k, v in labels.items()):
            if best is None or len(labels) > len(best):
                best = labels
    return best


def packet(store: Store, alert: Alert, cfg: Config | None = None, *, now: float | None = None,
           escalation: Any = None) -> dict[str, Any]:
    """The packet as a dict (the JSON shape). ``escalation``: a ``queue.Escalation``, if one was just made."""
    now = time.time() if now is None else now
    a = alert
    rule = _rule_for(a, cfg)
    metric = rule.metric if rule is not None and not rule.is_no_data else a.labels.get("metric")
    symptoms: dict[str, Any] = {
        "rule": a.rule, "metric": metric, "severity": a.severity, "state": a.state, "value": a.value,
        "since": iso(a.since), "for_s": now - a.since, "summary": a.summary, "flapping": a.flapping,
        "inhibited": a.inhibited, "op": None, "warn": None, "crit": None, "clear": None,
        "for": None, "description": None,
    }
    if rule is not None:
        view = {**a.labels, "target": a.target}
        warn, crit, clear = rule.thresholds(view)
        symptoms.update(op=rule.op, warn=warn, crit=crit, clear=clear)
        symptoms["for"] = format_duration(rule.for_s) if rule.for_s else "0s"
        symptoms["description"] = rule.description or None

    history: dict[str, Any] = {"metric": metric, "window_s": HISTORY_S, "points": [], "sparkline": "",
                               "min": None, "max": None, "last": None}
    if metric:
        labels = _series_labels(store, a.target, metric, a.labels)
        pts = store.history(a.target, metric, now - HISTORY_S, now, labels=labels) if labels is not None else []
        vals = [v for _, v in pts]
        history.update(
            labels=labels or {}, points=[[iso(t), v] for t, v in pts],
            sparkline=sparkline(vals, width=60) if vals else "",
            min=min(vals) if vals else None, max=max(vals) if vals else None, last=vals[-1] if vals else None,
        )

    symptoms["latest"] = history["last"]

    related = []
    for o in store.alerts(now=now):
        if o.id == a.id or o.target != a.target:
            continue
        if o.state == "resolved" and o.since < now - 24 * 3600:
            continue
        related.append({"id": o.id, "rule": o.rule, "severity": o.severity, "state": o.state,
                        "since": iso(o.since), "value": o.value, "summary": o.summary})

    acks = [{"at": iso(k.t), "who": k.who, "note": k.note, "sticky": k.sticky,
             "cleared": k.cleared_at is not None}
            for k in store.acks() if k.alert_id == a.id]
    notes = [{"t": iso(n.t), "who": n.who, "text": n.text, "on": "alert" if n.alert_id == a.id else "host"}
             for n in store.notes(target=a.target) if n.alert_id in (None, a.id)]

    env: dict[str, Any] = {"target": a.target, "tags": {}, "os": None, "kernel": None, "uptime_s": None,
                           "host_state": None, "patches": None}
    if cfg is not None:
        h = cfg.host(a.target)
        if h is not None:
            env["tags"] = dict(h.tags)
        else:
            ep = next((e for e in cfg.endpoints if e.name == a.target), None)
            if ep is not None:
                env["tags"] = dict(ep.tags)
                env["url"] = redact_url(ep.url)
    for row in store.latest("host", a.target):
        host = HostRow.from_json(row["data"] or {}, a.target)
        env["tags"] = env["tags"] or dict(host.tags)
        env["host_state"] = host.state
        env["uptime_s"] = host.health.uptime_s if host.health else None
        env["os"], env["kernel"] = host.os, host.kernel
        env["seen_at"] = iso(row["t"])
    for row in store.latest("patches", a.target):
        p = PatchesRow.from_json(row["data"] or {}).patches
        if p is not None:
            env["patches"] = {"manager": p.manager, "pending": p.pending, "security": p.security,
                              "reboot_required": p.reboot_required, "reboot_reason": p.reboot_reason,
                              "checked_at": iso(row["t"])}

    trs = [{"t": iso(tr.t), "from": tr.from_state, "to": tr.to_state, "severity": tr.severity, "reason": tr.reason}
           for tr in store.transitions(alert_id=a.id)][-10:]
    esc = None
    if escalation is not None:
        esc = {"from": escalation.from_tier, "to": escalation.to_tier, "who": escalation.who,
               "at": iso(escalation.t), "changed": escalation.changed}
    return {
        "generated_at": iso(now),
        "alert": {"id": a.id, "rule": a.rule, "target": a.target, "labels": a.labels},
        "tier": {"current": esc["to"] if esc else a.tier, "escalation": esc,
                 "history": [{"at": iso(t), "who": w, "from": f, "to": to} for t, _id, w, f, to in store.escalations(a.id)]},
        "symptoms": symptoms,
        "history": history,
        "related": related,
        "tried": {"acks": acks, "notes": notes},
        "environment": env,
        "runbook": a.runbook or (rule.runbook if rule is not None else ""),
        "transitions": trs,
    }


def to_json(p: Mapping[str, Any]) -> str:
    # json_safe: ensure_ascii=False leaves C1 controls and bidi overrides raw for the terminal.
    return json_safe(json.dumps(p, indent=2, ensure_ascii=False)) + "\n"


def _is_link(s: str) -> bool:
    return s.startswith(("https://", "http://")) and not any(c in s for c in " <>()[]`")


def to_markdown(p: Mapping[str, Any]) -> str:
    a, s, h, env, tier = p["alert"], p["symptoms"], p["history"], p["environment"], p["tier"]
    esc = tier["escalation"]
    verb = "Escalated to" if esc and esc["changed"] else "Escalation packet for"
    head = f"## {verb} {tier['current']}: {md(a['rule'])} on {md(a['target'])}"
    L = [head, ""]
    if esc:
        L.append(f"Escalated {esc['from']} → {esc['to']} by {md(esc['who'])} at {esc['at']}."
                 + ("" if esc["changed"] else " (already at the top tier)"))
        L.append("")
    L.append("### Symptoms")
    L.append("")
    L.append(f"- **what**: {md(s['summary'] or a['rule'])}")
    L.append(f"- **severity / state**: {s['severity']}, {s['state']}"
             + (" (flapping)" if s["flapping"] else "") + (" (inhibited: host down)" if s["inhibited"] else ""))
    L.append(f"- **since**: {s['since']} ({format_duration(max(0, round(s['for_s'])))} ago)")
    L.append(f"- **value**: {md(_num(s['value']))}" + (f" ({md(s['metric'])})" if s["metric"] else "")
             + (f", latest {md(_num(s['latest']))}" if s.get("latest") is not None and s["latest"] != s["value"] else ""))
    th = []
    if s["op"]:
        if s["warn"] is not None:
            th.append(f"warn {s['op']} {_num(s['warn'])}")
        if s["crit"] is not None:
            th.append(f"crit {s['op']} {_num(s['crit'])}")
        if s["clear"] is not None and s["clear"] != (s["warn"] if s["warn"] is not None else s["crit"]):
            th.append(f"clear {_num(s['clear'])}")
        if s["for"] and s["for"] != "0s":
            th.append(f"for {s['for']}")
    if th:
        L.append(f"- **threshold**: {', '.join(th)}")  # op is validated ("<" or ">"), the rest numbers
    L.append(f"- **alert id**: `{a['id']}`")
    L.append("")
    L.append(f"### Last hour of {md(h['metric'] or 'the metric')}")
    L.append("")
    if h["points"]:
        L.append(f"`{h['sparkline']}`  min {md(_num(h['min']))}, max {md(_num(h['max']))}, last {md(_num(h['last']))}")
        L.append("")
        pts = h["points"]
        step = max(1, len(pts) // 12)
        shown = pts[::step]
        if shown[-1] is not pts[-1]:
            shown.append(pts[-1])
        L.append("| time (UTC) | value |")
        L.append("| --- | --- |")
        for t, v in shown:
            L.append(f"| {t} | {md(_num(v))} |")
    else:
        L.append("No samples in the last hour.")
    L.append("")
    L.append(f"### Related alerts on {md(a['target'])} ({len(p['related'])})")
    L.append("")
    if p["related"]:
        for r in p["related"]:
            L.append(f"- `{r['id']}` {r['severity']} {r['state']} {md(r['rule'])} since {r['since']}: {md(r['summary'])}")
    else:
        L.append("None.")
    L.append("")
    L.append("### Already tried")
    L.append("")
    tried = p["tried"]
    if not tried["acks"] and not tried["notes"]:
        L.append("Nothing recorded (no ack notes, no notes on the alert or host).")
    for k in tried["acks"]:
        L.append(f"- {k['at']} acked by {md(k['who'])}" + (f": {md(k['note'])}" if k["note"] else "")
                 + (" (cleared)" if k["cleared"] else ""))
    ack_notes = {(k["at"], k["who"], k["note"]) for k in tried["acks"]}
    for n in tried["notes"]:
        if (n["t"], n["who"], n["text"]) in ack_notes:
            continue  # the ack's note, already listed
        L.append(f"- {n['t']} note on the {n['on']} by {md(n['who'])}: {md(n['text'], 2000)}")
    L.append("")
    L.append("### Environment")
    L.append("")
    if env["tags"]:
        L.append("- **tags**: " + ", ".join(f"{md(k)}={md(v)}" for k, v in env["tags"].items()))
    if env.get("url"):
        L.append(f"- **url**: {md(env['url'])}")
    if env["host_state"]:
        L.append(f"- **host state**: {md(env['host_state'])}" + (f" (seen {env['seen_at']})" if env.get("seen_at") else ""))
    if env["os"]:
        L.append(f"- **OS**: {md(env['os'])}")
    if env["kernel"]:
        L.append(f"- **kernel**: {md(env['kernel'])}")
    if env["uptime_s"] is not None:
        L.append(f"- **uptime**: {format_duration(max(0, round(env['uptime_s'])))}")
    pt = env["patches"]
    if pt:
        L.append(f"- **patches**: {pt['pending']} pending, {pt['security']} security"
                 + (", reboot required" + (f" ({md(pt['reboot_reason'])})" if pt.get("reboot_reason") else "")
                    if pt["reboot_required"] else ""))
    if not any((env["tags"], env["host_state"], env["os"], env["kernel"], env["uptime_s"] is not None, pt)):
        L.append("Nothing known about this target.")
    L.append("")
    rb = p["runbook"]
    L.append("### Runbook")
    L.append("")
    L.append(f"<{rb}>" if rb and _is_link(rb) else (md(rb, 2000) if rb else "None."))
    L.append("")
    if p["transitions"]:
        L.append("### Recent transitions")
        L.append("")
        for tr in p["transitions"]:
            L.append(f"- {tr['t']} {tr['from']} → {tr['to']}: {md(tr['reason'])}")
        L.append("")
    L.append(f"**Goes to**: {tier['current']}")
    return "\n".join(L) + "\n"
