"""Queue actions from the UI: ack, silence, escalate, a note for the next shift. No Textual here.

Thin wrappers over ``opsdash.alerts.queue`` (the same actions as
``opsdash ack/silence/escalate`` in the shell). Each opens its own read-write
Store (the UI's reader is read-only) and runs in a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..alerts import queue
from ..collect.alertmanager import push_silence_sync
from ..config import Config
from ..alerts.rules import next_tier
from ..store import Store, current_user


def ack(store_path: Path, alert_id: str, note: str, now: float, who: str | None = None) -> None:
    with Store(store_path) as store:
        queue.ack(store, alert_id, note=note, who=who or current_user(), now=now)


def silence(store_path: Path, matchers: Mapping[str, str], duration_s: float, note: str, now: float,
            who: str | None = None, config: Config | None = None) -> int:
    """A silence in the store and, for alerts from Alertmanager, in Alertmanager too."""
    with Store(store_path) as store:
        sid = queue.silence(store, dict(matchers), duration_s, note=note, who=who or current_user(), now=now)
        push_silence_sync(store, config, sid)
        return sid


def escalate(store_path: Path, alert_id: str, now: float, who: str | None = None) -> str:
    with Store(store_path) as store:
        return queue.escalate(store, alert_id, who=who or current_user(), now=now).to_tier


def note(store_path: Path, text: str, target: str | None, now: float, who: str | None = None) -> int:
    """A note for the next shift (``opsdash note``); it shows in the handover."""
    with Store(store_path) as store:
        return store.add_note(text, who=who or current_user(), target=target or None, t=now)


def escalation_packet(store: Store, alert_id: str, now: float, who: str | None = None) -> tuple[str, str]:
    """(Markdown packet, tier it would go to) for an escalation not yet recorded."""
    a = queue.find_alert(store, alert_id, now=now)
    esc = queue.Escalation(a, a.tier, next_tier(a.tier), who or current_user(), now)
    try:
        from ..report import escalation  # a fuller packet, when the report layer has one
    except ImportError:
        escalation = None
    render = getattr(escalation, "escalation_markdown", None) if escalation else None
    md = render(store, esc) if callable(render) else queue.escalation_markdown(store, esc)
    return md, esc.to_tier


__all__ = ["ack", "escalate", "escalation_packet", "next_tier", "note", "silence"]
