"""The notifier: decides what to tell whom (reconcile) and delivers it (the outbox).

The collector holds one ``Notifier`` (given by its caller: collect/ never imports
this package) and uses it two ways:

- ``reconcile(now)``, from the collector's writer thread after each store write:
  reads the open alerts and what each target was last told, decides
  (decide.py), and commits the new events and the new sent state in ONE
  transaction (``store.enqueue_notifications``). Nothing is sent here.
- ``run(stop)``, its own asyncio task: one loop per target takes the target's
  oldest due notification (``store.claim_notification``: its group window closed,
  its retry time come), sends it, and marks it sent; a failure is recorded with
  the next try (exponential backoff, 1 s doubling to ``retry_max``, jittered).

So delivery is at least once: a kill -9 between sending and marking sends it again
on the next start, with the same notification id, which receivers dedupe on
(exactly once as they see it). Nothing is lost: a decision is committed before
anything is sent, and what was decided and not yet delivered stays in the outbox
until it is.

Alertmanager targets are also re-posted every ``resend`` while their alerts fire
(from the sent state), so Alertmanager never resolves them on its own
``resolve_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace
from typing import Any, Callable

import httpx

from ..config import Config, NotifyConfig
from ..errors import OpsdashError
from ..security import endpoint_secrets
from ..store import NotifyEvent, OutboxRow, Store
from ..textsafe import redact, redact_url
from .alertmanager import am_alerts, post_alerts
from .decide import decide
from .email import send_email
from .errors import DeliveryError, post_json
from .webhook import webhook_body

__all__ = ["Notifier", "notifier_for"]

log = logging.getLogger("opsdash.notify")

POLL = 0.5  # how often an idle target looks for due notifications
MIN_RECONCILE = 1.0  # seconds between two reconciles (the writer runs every 0.5 s)
KEEP_SENT = 7 * 86400.0  # sent notifications are shown by `notify status` this long


def notifier_for(config: Config, store: Store | None) -> "Notifier | None":
    """The collector's notifier, or None when the config has no [[notify]] (or no store)."""
    if not config.notify or store is None:
        return None
    return Notifier(config, store)


class Notifier:
    def __init__(self, config: Config, store: Store, *, clock: Callable[[], float] = time.time):
        self.config = config
        self.store = store
        self.clock = clock
        self.targets: tuple[NotifyConfig, ...] = config.notify
        from ..alerts.rules import rules_from_config

        self._describe = {r.name: r.description for r in rules_from_config(config)}
        self._secrets = {t.name: endpoint_secrets(t.url, t.headers) if t.url else [] for t in self.targets}
        self._last_reconcile = 0.0
        self._last_prune = 0.0
        self.failing: dict[str, str] = {}  # target -> error while it fails (logged once)

    # --- deciding (the writer's thread) ----------------------------------------------

    def reconcile(self, now: float | None = None, *, force: bool = False) -> int:
        """Enqueue what the targets should be told now; returns how many events. Blocking
        (SQLite): the collector calls it in a thread."""
        now = self.clock() if now is None else now
        if not force and now - self._last_reconcile < MIN_RECONCILE:
            return 0
        self._last_reconcile = now
        alerts = self.store.alerts(states=("pending", "firing"), now=now)
        sent_all = self.store.notify_sent()
        events: list[NotifyEvent] = []
        states = []
        for t in self.targets:
            sent = {aid: s for (tname, aid), s in sent_all.items() if tname == t.name}
            evs, sts, told = decide(t, alerts, sent, now, lambda rule: self._describe.get(rule, ""))
            if t.kind == "email" and told:
                packets = self._packets(told, now)
                # A copy: the sent state shares the event's dict and need not keep the packet.
                evs = [replace(ev, alert={**ev.alert, "packet": packets[ev.alert["alert_id"]]})
                       if ev.event != "resolved" and ev.alert["alert_id"] in packets else ev for ev in evs]
            events += evs
            states += sts
        if events or states:
            self.store.enqueue_notifications(events, states, now)
            groups: dict[tuple[str, str, str], list[str]] = {}
            for ev in events:  # one line per target, event and rule: a storm of 500 is one line
                groups.setdefault((ev.target, ev.event, ev.grp), []).append(ev.alert["target"])
            for (target, event, rule), who in groups.items():
                shown = ", ".join(who[:5]) + (f" and {len(who) - 5} more" if len(who) > 5 else "")
                log.info("notify %s: queued %s %s on %s", target, event, rule, shown)
        if now - self._last_prune > 3600:
            self.store.prune_notifications(now - KEEP_SENT)
            self._last_prune = now
        return len(events)

    def _packets(self, alerts: list[Any], now: float) -> dict[str, str]:
        from ..report.escalation import packet, to_markdown

        out = {}
        for a in alerts[:20]:  # a storm's mail shows a few packets; rendering 500 would stall the writer
            try:
                out[a.id] = to_markdown(packet(self.store, a, self.config, now=now))
            except OpsdashError:
                continue
        return out

    # --- delivering (the collector's loop) ---------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set: one loop per target, so a slow receiver delays only itself."""
        async with httpx.AsyncClient(follow_redirects=False) as client:
            await asyncio.gather(*(self._target_loop(t, client, stop) for t in self.targets))

    async def _target_loop(self, t: NotifyConfig, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        last_resend = self.clock()
        while not stop.is_set():
            try:
                row = await asyncio.to_thread(self.store.claim_notification, t.name, self.clock())
                if row is not None:
                    await self._deliver(t, client, row)
                    continue
                if t.kind == "alertmanager" and self.clock() - last_resend >= t.resend:
                    last_resend = self.clock()
                    await self._resend(t, client)
            except OpsdashError as e:  # the store is locked or full: try again in a moment
                log.debug("notify %s: %s", t.name, e)
            except Exception as e:  # a bug must not end delivery for good: say so, go on
                log.error("notify %s: internal error: %s: %s", t.name, type(e).__name__, e)
            try:
                await asyncio.wait_for(stop.wait(), POLL)
            except asyncio.TimeoutError:
                pass

    async def _deliver(self, t: NotifyConfig, client: httpx.AsyncClient, row: OutboxRow) -> None:
        try:
            try:
                await self.send(t, client, row)
            except DeliveryError:
                raise
            except Exception as e:  # a bug in rendering: this row fails (and is retried), others go on
                raise DeliveryError(f"internal error: {type(e).__name__}: {e}") from None
        except DeliveryError as e:
            now = self.clock()
            error = redact(str(e), self._secrets[t.name]) or "failed"
            if e.permanent:
                await asyncio.to_thread(self.store.notification_rejected, row.id, error, now)
                log.error("notify %s: %s refused, not retried: %s", t.name, row.id, error)
                return
            back = min(t.retry_max, 2.0 ** (row.attempts - 1)) * random.uniform(0.8, 1.2)
            await asyncio.to_thread(self.store.notification_failed, row.id, error, now + back)
            if self.failing.get(t.name) != error:
                self.failing[t.name] = error
                log.error("notify %s: cannot deliver %s: %s; retrying (backoff up to %gs)",
                          t.name, row.id, error, t.retry_max)
            return
        await asyncio.to_thread(self.store.notification_sent, row.id, self.clock())
        if self.failing.pop(t.name, None) is not None:
            log.info("notify %s: delivering again", t.name)
        log.info("notify %s: sent %s %s (%d alert%s, id %s)", t.name, row.event, row.grp, len(row.alerts),
                 "s" * (len(row.alerts) != 1), row.id)

    async def send(self, t: NotifyConfig, client: httpx.AsyncClient, row: OutboxRow) -> None:
        """One attempt at one notification; DeliveryError if it did not arrive."""
        secrets = self._secrets[t.name]
        if t.kind == "alertmanager":
            await post_alerts(client, t.url, am_alerts(row.alerts, self.clock()), timeout=t.timeout, secrets=secrets)
        elif t.kind == "webhook":
            await post_json(client, t.url, webhook_body(t.name, row), timeout=t.timeout, headers=t.headers,
                            secrets=secrets)
        elif t.kind == "email":
            await send_email(t, row)
        else:  # config.py allows only the kinds above
            raise DeliveryError(f"unknown kind {t.kind}", permanent=True)

    async def _resend(self, t: NotifyConfig, client: httpx.AsyncClient) -> None:
        """Re-post what fires to Alertmanager, only when nothing older waits in the outbox
        (Alertmanager hears of each alert in order)."""
        if await asyncio.to_thread(self.store.notifications, target=t.name, unsent_only=True, limit=1):
            return
        sent = await asyncio.to_thread(self.store.notify_sent, t.name)
        firing = [s.data for s in sent.values() if s.status == "firing"]
        if not firing:
            return
        try:
            await post_alerts(client, t.url, am_alerts(firing, self.clock()), timeout=t.timeout,
                              secrets=self._secrets[t.name])
        except DeliveryError as e:
            log.warning("notify %s: re-post of %d firing alerts failed: %s", t.name, len(firing),
                        redact(str(e), self._secrets[t.name]))

    def describe_target(self, t: NotifyConfig) -> str:
        where = redact_url(t.url) if t.url else f"smtp {t.smtp} to {', '.join(t.to)}"
        return f"{t.name} ({t.kind} {where})"
