"""What each [[notify]] target should be told now: level-triggered, no I/O.

Every poll, for each target, the alerts as the store has them now are compared
with what the target was last told (``store.NotifySent``), and the difference
becomes events:

- **firing**: the alert fires (hard), is not flapping, inhibited, silenced or
  suppressed (a maintenance window, a parent down: ``Alert.suppressed_by``), was
  not acked before anyone was told, and this episode (its ``since``) was not told
  yet. So an alert that was silenced or in a window when it fired is told when
  the silence or the window ends and it still fires: a hold never swallows an
  outage.
- **resolved**: the target was told this alert fires and it no longer does (it
  resolved, went back to pending, was deleted, or no longer matches the target).
  Sent whatever happened in between (silenced, acked): no page is left orphaned.
- **escalation**: the target was told, and the tier or the severity went up.
  For Alertmanager, whose alert identity is its label set, any change of the
  labels (tier, severity) ends the old label set and posts the new one.

Nothing is repeated: an acked alert is never told again, only resolved.
Alerts from other sources (an Alertmanager source) are not sent: they have
their own routing, and sending them back would loop.

Every event has a stable id (target, alert, episode, event, tier): deciding again
after a crash gives the same ids, and receivers dedupe on them.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Mapping

from ..config import NotifyConfig
from ..model import Alert
from ..store import NotifyEvent, NotifySent, Silence

__all__ = ["am_labels", "decide", "event_id", "matches_target"]

_TIER_RANK = {"L1": 1, "L2": 2, "L3": 3}
_SEV_RANK = {"warning": 1, "critical": 2}


def event_id(target: str, alert_id: str, since: float, event: str, tier: str = "") -> str:
    key = "|".join((target, alert_id, f"{since:.3f}", event, tier))
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _match_labels(a: Alert) -> dict[str, str]:
    # What a silence matches on (queue.silence_matches): the same keys here.
    return {**a.labels, "target": a.target, "rule": a.rule, "alertname": a.rule, "severity": a.severity}


def matches_target(t: NotifyConfig, a: Alert) -> bool:
    """The target's ``match``, read exactly as a silence's matchers (store.Silence.matches)."""
    return not t.match or Silence(0, 0.0, "", dict(t.match), "", 0.0, False, None, None).matches(_match_labels(a))


def am_labels(a: Alert) -> dict[str, str]:
    """Alertmanager's labels for an alert: its tags and series labels, then alertname (the
    rule), target, severity and tier (ours win over a tag of the same name)."""
    return {**{str(k): str(v) for k, v in a.labels.items()}, "alertname": a.rule, "target": a.target,
            "severity": a.severity, "tier": a.tier}


def _held(a: Alert) -> str | None:
    """Why a firing alert is not paged now, or None."""
    if a.flapping:
        return "flapping"
    if a.inhibited:
        return "inhibited"
    if a.silenced:
        return "silenced"
    if a.suppressed_by:
        return "suppressed"
    return None


def _escalated(s: NotifySent, a: Alert) -> bool:
    return (_TIER_RANK.get(a.tier, 0) > _TIER_RANK.get(s.tier or "", 0)
            or _SEV_RANK.get(a.severity, 0) > _SEV_RANK.get(s.severity or "", 0))


def _alert_event(t: NotifyConfig, a: Alert, event: str, now: float, description: str) -> dict[str, Any]:
    eid = event_id(t.name, a.id, a.since, event, a.tier if event == "escalation" else "")
    return {
        "event_id": eid, "event": event, "alert_id": a.id, "rule": a.rule, "target": a.target,
        "severity": a.severity, "tier": a.tier, "since": a.since, "ends_at": None, "t": now,
        "value": a.value, "summary": a.summary, "acked": a.acked,
        "labels": am_labels(a),
        "annotations": {k: v for k, v in (("summary", a.summary), ("runbook_url", a.runbook),
                                          ("description", description)) if v},
    }


def decide(
    t: NotifyConfig, alerts: Iterable[Alert], sent: Mapping[str, NotifySent], now: float,
    describe: Callable[[str], str] = lambda _rule: "",
) -> tuple[list[NotifyEvent], list[NotifySent], list[Alert]]:
    """The events for target ``t``, its new sent state, and the alerts told of firing or
    escalated (for whoever renders more of them, like the email's escalation packet).

    ``alerts``: the open (pending and firing) alerts with ack and silence resolved now;
    ``sent``: alert id -> what ``t`` was last told."""
    events: list[NotifyEvent] = []
    states: list[NotifySent] = []
    told_now: list[Alert] = []
    seen: set[str] = set()

    def add(ev: dict[str, Any], a: Alert | None = None) -> None:
        events.append(NotifyEvent(ev["event_id"], t.name, ev["event"], ev["rule"], t.group_window, ev))
        if a is not None:
            told_now.append(a)

    def resolve(s: NotifySent) -> NotifySent:
        data = dict(s.data)
        data.update(event="resolved", ends_at=now, t=now,
                    event_id=event_id(t.name, s.alert_id, s.since, "resolved"))
        data.pop("replaces", None)
        add(data)
        new = NotifySent(t.name, s.alert_id, "resolved", s.since, s.severity, s.tier, now, data)
        states.append(new)
        return new

    for a in alerts:
        if a.source != "opsdash" or not matches_target(t, a):
            continue
        seen.add(a.id)
        s = sent.get(a.id)
        if s is not None and s.status == "firing" and (a.state != "firing" or s.since != a.since):
            s = resolve(s)  # this episode ended (a new one may have begun: handled below)
        if a.state != "firing" or _held(a) is not None:
            continue
        if s is None or s.status != "firing":
            if a.acked or (s is not None and s.since == a.since):
                continue  # someone has it already / this episode was told and resolved
            ev = _alert_event(t, a, "firing", now, describe(a.rule))
            add(ev, a)
            states.append(NotifySent(t.name, a.id, "firing", a.since, a.severity, a.tier, now, ev))
            continue
        labels = am_labels(a)
        relabelled = t.kind == "alertmanager" and labels != s.data.get("labels")
        if _escalated(s, a) or relabelled:
            ev = _alert_event(t, a, "escalation", now, describe(a.rule))
            # Severity can go up twice in one episode (critical, warning, critical): the time
            # keeps the ids apart. Stable where it matters: the id is in the outbox with the row.
            ev["event_id"] = event_id(t.name, a.id, a.since, "escalation", f"{a.tier}/{a.severity}@{now:.0f}")
            if relabelled:
                # Alertmanager's identity is the label set: end the old one, post the new one.
                ev["replaces"] = s.data.get("labels")
            add(ev, a)
            states.append(NotifySent(t.name, a.id, "firing", a.since, a.severity, a.tier, now,
                                     {**ev, "event": "firing", "replaces": None}))
    for s in sent.values():
        if s.status == "firing" and s.alert_id not in seen:
            resolve(s)  # resolved, deleted, or no longer matches this target
    return events, states, told_now
