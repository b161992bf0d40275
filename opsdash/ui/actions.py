"""Queue actions from the UI: ack, silence, unsilence, escalate, a note for the next shift. No Textual here.

Thin wrappers over ``opsdash.alerts.queue`` (the same actions as
``opsdash ack/silence/escalate`` in the shell). Each opens its own read-write
Store (the UI's reader is read-only) and runs in a worker thread. Silences
reach Alertmanager through the ``AlertmanagerMirror`` the app was given
(alerts/mirror.py): the UI never imports collect/. The escalation packet is
the one ``opsdash escalate`` prints (report/escalation.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from ..alerts import queue
from ..alerts.mirror import NO_MIRROR, AlertmanagerMirror
from ..alerts.rules import next_tier
from ..config import Config
from ..report.escalation import packet, to_markdown
from ..store import Silence, Store, current_user


def ack(store_path: Path, alert_id: str, note: str, now: float, who: str | None = None) -> None:
    with Store(store_path) as store:
        queue.ack(store, alert_id, note=note, who=who or current_user(), now=now)


def silence(store_path: Path, matchers: Mapping[str, str], duration_s: float, note: str, now: float,
            who: str | None = None, mirror: AlertmanagerMirror = NO_MIRROR) -> int:
    """A silence in the store and, for alerts from Alertmanager, in Alertmanager too."""
    with Store(store_path) as store:
        sid = queue.silence(store, dict(matchers), duration_s, note=note, who=who or current_user(), now=now)
        mirror.push_silence(store, sid)
        return sid


def silence_vocabulary(store_path: Path, config: Config | None, now: float) -> queue.MatcherVocabulary:
    """What a silence may match, as ``opsdash silence`` checks it (read-only)."""
    with Store(store_path, readonly=True) as store:
        return queue.vocabulary_from_store(store, config, now)


def silences_covering(store_path: Path, alert_ids: Iterable[str], now: float) -> list[Silence]:
    """The active silences that cover any of these alerts, each once, oldest first (read-only)."""
    ids = set(alert_ids)
    with Store(store_path, readonly=True) as store:
        found: dict[int, Silence] = {}
        for a in store.alerts(now=now):
            if a.id in ids:
                for s in queue.silenced_by(store, a, now):
                    found.setdefault(s.id, s)
    return sorted(found.values(), key=lambda s: s.t)


def unsilence(store_path: Path, silence_ids: Iterable[int], now: float, mirror: AlertmanagerMirror = NO_MIRROR) -> int:
    """End silences now, here and in the Alertmanager sources that hold a copy (as
    ``opsdash unsilence``). Returns how many were still active. An Alertmanager that cannot
    be reached raises, after the local silences have ended: the user is told it failed there."""
    ended, failed = 0, []
    with Store(store_path) as store:
        for sid in silence_ids:
            ended += queue.unsilence(store, sid, now=now)
            if queue.find_silence(store, sid).external_id:
                failed += [f"{src}: {out}" for src, out in mirror.expire_silence(store, sid).items()
                           if out.startswith("error")]
    if failed:
        raise queue.QueueError(f"ended here, but not in Alertmanager: {'; '.join(failed)}")
    return ended


def escalate(store_path: Path, alert_id: str, now: float, who: str | None = None) -> str:
    with Store(store_path) as store:
        return queue.escalate(store, alert_id, who=who or current_user(), now=now).to_tier


def note(store_path: Path, text: str, target: str | None, now: float, who: str | None = None) -> int:
    """A note for the next shift (``opsdash note``); it shows in the handover."""
    with Store(store_path) as store:
        return store.add_note(text, who=who or current_user(), target=target or None, t=now)


def escalation_packet(store: Store, alert_id: str, now: float, config: Config | None = None,
                      who: str | None = None) -> tuple[str, str]:
    """(Markdown packet, tier it would go to) for an escalation not yet recorded: the packet
    ``opsdash escalate`` prints for it (report/escalation.py), with the same config."""
    a = queue.find_alert(store, alert_id, now=now)
    esc = queue.Escalation(a, a.tier, next_tier(a.tier), who or current_user(), now)
    return to_markdown(packet(store, a, config, now=now, escalation=esc)), esc.to_tier


__all__ = ["ack", "escalate", "escalation_packet", "next_tier", "note", "silence", "silence_vocabulary",
           "silences_covering", "unsilence"]
