"""Queue actions from the UI: ack, silence, escalate. No Textual here.

Uses ``opsdash.alerts.queue`` when it provides the action, else the Store API
directly, so the UI works whichever lands first. Each function opens its own
read-write Store (the UI's reader is read-only) and runs in a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..store import Store, current_user


def _queue() -> Any:
    try:
        from ..alerts import queue  # type: ignore[attr-defined]
    except ImportError:
        return None
    return queue


def ack(store_path: Path, alert_id: str, note: str, now: float, who: str | None = None) -> None:
    who = who or current_user()
    q = _queue()
    with Store(store_path) as store:
        fn = getattr(q, "ack", None) if q else None
        if fn is not None:
            try:
                fn(store, alert_id, who=who, note=note, now=now)
                return
            except TypeError:
                pass  # another signature: fall back to the store
        store.add_ack(alert_id, who=who, note=note, t=now)
        if note:
            store.add_note(note, who=who, alert_id=alert_id, t=now)


def silence(store_path: Path, matchers: Mapping[str, str], duration_s: float, note: str, now: float,
            who: str | None = None) -> int:
    who = who or current_user()
    q = _queue()
    with Store(store_path) as store:
        fn = getattr(q, "silence", None) if q else None
        if fn is not None:
            try:
                return int(fn(store, dict(matchers), duration_s=duration_s, who=who, note=note, now=now) or 0)
            except TypeError:
                pass
        return store.add_silence(dict(matchers), ends_at=now + duration_s, who=who, note=note, t=now)


def next_tier(tier: str | None) -> str:
    if tier and tier[:1].upper() == "L" and tier[1:].isdigit():
        return f"L{int(tier[1:]) + 1}"
    return "L2"


def escalate(store_path: Path, alert_id: str, from_tier: str | None, now: float, who: str | None = None) -> str:
    who = who or current_user()
    to = next_tier(from_tier)
    q = _queue()
    with Store(store_path) as store:
        fn = getattr(q, "escalate", None) if q else None
        if fn is not None:
            try:
                fn(store, alert_id, who=who, now=now)
                return to
            except TypeError:
                pass
        store.add_escalation(alert_id, who=who, from_tier=from_tier, to_tier=to, t=now)
    return to


def escalation_packet(store: Store, alert_id: str, now: float) -> str:
    """The escalation packet as Markdown: opsdash.report.escalation when present, else a simple one."""
    try:
        from ..report import escalation  # type: ignore[attr-defined]
    except ImportError:
        escalation = None
    for name in ("render_markdown", "packet_markdown", "markdown"):
        fn = getattr(escalation, name, None) if escalation else None
        if fn is not None:
            try:
                return str(fn(store, alert_id, now=now))
            except TypeError:
                continue
    return simple_packet(store, alert_id, now)


def simple_packet(store: Store, alert_id: str, now: float) -> str:
    from ..model import iso

    a = store.alert(alert_id, now=now)
    if a is None:
        return f"# Escalation\n\nAlert {alert_id} is no longer in the store.\n"
    lines = [
        f"# Escalation: {a.rule} on {a.target}",
        "",
        f"- severity: {a.severity} ({a.state}{', flapping' if a.flapping else ''})",
        f"- since: {iso(a.since)}",
        f"- value: {a.value}",
        f"- summary: {a.summary}",
        f"- runbook: {a.runbook or '(none)'}",
        f"- tier: {a.tier}",
        f"- acked: {'yes by ' + (a.ack_by or '?') + ': ' + (a.ack_note or '') if a.acked else 'no'}",
        f"- silenced: {'yes' if a.silenced else 'no'}",
        "",
        "## What happened",
    ]
    for tr in store.transitions(alert_id=alert_id)[-20:]:
        lines.append(f"- {iso(tr.t)} {tr.from_state} → {tr.to_state} ({tr.reason})")
    notes = store.notes(alert_id=alert_id)
    if notes:
        lines += ["", "## What was tried"]
        lines += [f"- {iso(n.t)} {n.who}: {n.text}" for n in notes]
    return "\n".join(lines) + "\n"
