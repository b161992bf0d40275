"""Posting to Alertmanager's ``/api/v2/alerts``: opsdash's alerts as Alertmanager alerts.

Labels: alertname (the rule), target, severity, tier and the alert's tags and
series labels. Annotations: summary, runbook_url, description. A firing alert
is posted without ``endsAt`` (Alertmanager then keeps it for its
``resolve_timeout``) and re-posted every ``resend`` while it fires; a resolve
posts the same labels with ``endsAt``. An escalation that changes the labels
(tier, severity) ends the old label set and posts the new one, since
Alertmanager tells alerts apart by their labels.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import httpx

from ..model import iso
from .errors import DeliveryError, post_json

__all__ = ["am_alerts", "post_alerts"]


def _one(ev: Mapping[str, Any], ends_at: float | None, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "labels": dict(labels if labels is not None else ev["labels"]),
        "annotations": dict(ev.get("annotations") or {}),
        "startsAt": iso(ev["since"]),
        "generatorURL": "",
    }
    if ends_at is not None:
        d["endsAt"] = iso(max(ends_at, ev["since"]))
    return d


def am_alerts(events: Iterable[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
    """The request body for a notification's events."""
    out = []
    for ev in events:
        if ev["event"] == "resolved":
            out.append(_one(ev, ev.get("ends_at") or now))
            continue
        if ev.get("replaces"):
            out.append(_one(ev, now, ev["replaces"]))
        out.append(_one(ev, None))
    return out


async def post_alerts(client: httpx.AsyncClient, url: str, alerts: list[dict[str, Any]], *,
                      timeout: float, secrets: Iterable[str] = ()) -> None:
    """POST to Alertmanager; DeliveryError (its ``permanent`` set for a 4xx refusal) if it fails."""
    if alerts:
        await post_json(client, url.rstrip("/") + "/api/v2/alerts", alerts, timeout=timeout, secrets=secrets)
