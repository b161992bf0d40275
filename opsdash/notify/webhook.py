"""The webhook body: Alertmanager's webhook format, version 4, so existing receivers work.

One notification is one body: its alerts (one, or a storm's many of one rule),
``groupLabels`` {alertname: the rule}, ``commonLabels`` and
``commonAnnotations`` (what all its alerts share), ``status`` firing or
resolved. Two keys beyond Alertmanager's, which receivers that do not know
them ignore: ``notificationId`` (the same on every retry of this
notification: a receiver dedupes on it, so at-least-once delivery is
exactly-once as it sees it) and ``event`` (firing, resolved or escalation);
each alert also carries its ``eventId``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..model import iso
from ..store import OutboxRow

__all__ = ["webhook_body"]

_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager sends as endsAt of a firing alert


def _common(dicts: list[Mapping[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    out = dict(dicts[0])
    for d in dicts[1:]:
        out = {k: v for k, v in out.items() if d.get(k) == v}
    return out


def _group_key(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{}:{" + inner + "}"


def webhook_body(receiver: str, row: OutboxRow, *, external_url: str = "") -> dict[str, Any]:
    events: Iterable[Mapping[str, Any]] = row.alerts
    status = "resolved" if row.event == "resolved" else "firing"
    alerts = []
    for ev in events:
        resolved = ev["event"] == "resolved"
        alerts.append({
            "status": "resolved" if resolved else "firing",
            "labels": dict(ev["labels"]),
            "annotations": dict(ev.get("annotations") or {}),
            "startsAt": iso(ev["since"]),
            "endsAt": iso(ev["ends_at"]) if resolved and ev.get("ends_at") else _ZERO_TIME,
            "generatorURL": "",
            "fingerprint": ev["alert_id"],
            "eventId": ev["event_id"],
        })
    group_labels = {"alertname": row.grp}
    return {
        "version": "4",
        "groupKey": _group_key(group_labels),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "alerts": alerts,
        "notificationId": row.id,
        "event": row.event,
    }
