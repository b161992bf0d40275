"""Queue actions on alerts, written to the store by any viewer (TUI, shell).

Each action is one committed SQLite transaction, so it survives a kill -9 of
whoever wrote it; the collector's engine reads acks and silences from the
store when it decides whether to page, and clears acks when an alert changes
(non-sticky) or resolves (all).

- ``ack``: who (``$USER``), note, sticky (kept through severity changes until
  the alert resolves) or not (cleared by the next change), optional expiry.
- ``unack``, ``note``.
- ``silence``: matchers (``target``, ``rule``, ``severity``, tags and labels;
  glob values not supported: exact match, as the store compares), a duration,
  a note, optionally ending when the matched alerts resolve.
- ``escalate``: to the next tier (L1 -> L2 -> L3), recorded with who and when.

``now`` is injectable everywhere (default: the wall clock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..config import format_duration
from ..errors import OpsdashError
from ..model import Alert, iso
from ..store import Silence, Store, current_user
from .rules import next_tier

__all__ = [
    "QueueError",
    "UnknownAlert",
    "ack",
    "escalate",
    "escalation_markdown",
    "find_alert",
    "note",
    "silence",
    "unack",
    "unsilence",
]


class QueueError(OpsdashError):
    """A queue action cannot be done (bad matcher, nothing to escalate)."""


class UnknownAlert(QueueError):
    def __init__(self, alert_id: str, detail: str = "no such alert"):
        self.alert_id = alert_id
        super().__init__(f"{alert_id}: {detail} (see `opsdash alerts --all`)")


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def find_alert(store: Store, alert_id: str, *, now: float | None = None) -> Alert:
    """The alert with this id, or the only one whose id starts with it (like git's short hashes)."""
    alert_id = alert_id.strip()
    if not alert_id:
        raise UnknownAlert(alert_id, "empty alert id")
    alerts = store.alerts(now=_now(now))
    exact = [a for a in alerts if a.id == alert_id]
    if exact:
        return exact[0]
    hits = [a for a in alerts if a.id.startswith(alert_id)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise UnknownAlert(alert_id, f"ambiguous: {len(hits)} alerts start with it")
    raise UnknownAlert(alert_id)


def ack(
    store: Store, alert_id: str, *, note: str = "", sticky: bool = False, expires: float | None = None,
    who: str | None = None, now: float | None = None,
) -> Alert:
    """Acknowledge an alert; ``expires`` is a duration in seconds from now. Returns the alert."""
    now = _now(now)
    a = find_alert(store, alert_id, now=now)
    if expires is not None and expires <= 0:
        raise QueueError("an ack's expiry must be a duration greater than zero")
    who = who or current_user()
    store.add_ack(a.id, who=who, note=note, sticky=sticky, expires_at=now + expires if expires else None, t=now)
    if note:
        store.add_note(note, who=who, target=a.target, alert_id=a.id, t=now)
    a.acked, a.ack_note, a.ack_by = True, note, who
    return a


def unack(store: Store, alert_id: str, *, who: str | None = None, now: float | None = None) -> int:
    """Clear the alert's acks; returns how many were active."""
    now = _now(now)
    a = find_alert(store, alert_id, now=now)
    return store.clear_acks(a.id, reason=f"unacked by {who or current_user()}", t=now)


def note(store: Store, alert_id: str, text: str, *, who: str | None = None, now: float | None = None) -> int:
    """A note on an alert ("what was tried"); it shows in the queue and the handover."""
    now = _now(now)
    if not text.strip():
        raise QueueError("a note needs some text")
    a = find_alert(store, alert_id, now=now)
    return store.add_note(text, who=who or current_user(), target=a.target, alert_id=a.id, t=now)


def parse_matchers(items: Iterable[str]) -> dict[str, str]:
    """["target=web-1", "rule=disk"] -> {"target": "web-1", "rule": "disk"}."""
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        k, v = k.strip(), v.strip()
        if not sep or not k or not v:
            raise QueueError(f'matcher "{item}": expected key=value, like target=web-1 or rule=disk')
        out[k] = v
    return out


def silence(
    store: Store, matchers: Mapping[str, str], duration_s: float, *, note: str = "", until_resolved: bool = False,
    who: str | None = None, now: float | None = None,
) -> int:
    """Silence the alerts matching every matcher for ``duration_s`` seconds; returns the silence id."""
    if not matchers:
        raise QueueError("a silence needs at least one matcher (like target=web-1)")
    if duration_s <= 0:
        raise QueueError("a silence needs a duration greater than zero")
    now = _now(now)
    return store.add_silence(dict(matchers), ends_at=now + duration_s, who=who or current_user(), note=note,
                             until_resolved=until_resolved, t=now)


def unsilence(store: Store, silence_id: int, *, now: float | None = None) -> bool:
    return store.expire_silence(silence_id, _now(now))


def silenced_by(store: Store, a: Alert, now: float | None = None) -> list[Silence]:
    full = {**a.labels, "target": a.target, "rule": a.rule, "alertname": a.rule, "severity": a.severity}
    return [s for s in store.active_silences(_now(now)) if s.matches(full)]


@dataclass(frozen=True)
class Escalation:
    alert: Alert
    from_tier: str
    to_tier: str
    who: str
    t: float

    @property
    def changed(self) -> bool:
        return self.from_tier != self.to_tier


def escalate(store: Store, alert_id: str, *, who: str | None = None, now: float | None = None) -> Escalation:
    """Raise the alert to the next tier (L1 -> L2 -> L3) and record who did it."""
    now = _now(now)
    a = find_alert(store, alert_id, now=now)
    who = who or current_user()
    to = next_tier(a.tier)
    if to != a.tier:
        store.add_escalation(a.id, who=who, from_tier=a.tier, to_tier=to, t=now)
    esc = Escalation(a, a.tier, to, who, now)
    a.tier = to
    return esc


def escalation_markdown(store: Store, esc: Escalation) -> str:
    """A short Markdown summary to paste into the next tier's channel."""
    a = esc.alert
    lines = [
        f"## Escalated to {esc.to_tier}: {a.rule} on {a.target} ({a.severity}, {a.state})",
        "",
        f"- **what**: {a.summary or a.rule}",
        f"- **since**: {iso(a.since)}" + (" (flapping)" if a.flapping else ""),
        f"- **value**: {a.value if a.value is not None else 'n/a'}",
        f"- **tier**: {esc.from_tier} -> {esc.to_tier}, by {esc.who} at {iso(esc.t)}",
        f"- **alert id**: `{a.id}`",
    ]
    if a.runbook:
        lines.append(f"- **runbook**: {a.runbook}")
    if a.acked:
        lines.append(f"- **acked** by {a.ack_by}" + (f": {a.ack_note}" if a.ack_note else ""))
    sil = silenced_by(store, a, esc.t)
    for s in sil:
        lines.append(f"- **silenced** by {s.who} until {iso(s.ends_at)}" + (f": {s.note}" if s.note else ""))
    notes = store.notes(alert_id=a.id)
    if notes:
        lines += ["", "### What was tried"]
        lines += [f"- {iso(n.t)} {n.who}: {n.text}" for n in notes[-10:]]
    trs = store.transitions(alert_id=a.id)
    if trs:
        lines += ["", "### Recent transitions"]
        lines += [f"- {iso(tr.t)} {tr.from_state} -> {tr.to_state}: {tr.reason}" for tr in trs[-5:]]
    return "\n".join(lines) + "\n"


def describe_silence(s: Silence, now: float) -> str:
    m = ",".join(f"{k}={v}" for k, v in s.matchers.items())
    left = format_duration(max(0, round(s.ends_at - now)))
    extra = " until resolved" if s.until_resolved else ""
    return f"#{s.id} {m} by {s.who}, {left} left{extra}" + (f": {s.note}" if s.note else "")
