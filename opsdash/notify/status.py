"""What is queued, sent and failing, per [[notify]] target: `opsdash notify status` and the TUI."""

from __future__ import annotations

import time
from typing import Any

from ..config import Config, format_duration
from ..model import iso, parse_iso
from ..store import Store
from ..textsafe import redact_url

__all__ = ["notify_status", "short_line", "to_text"]


def notify_status(store: Store, config: Config | None, now: float | None = None, *, limit: int = 20) -> dict[str, Any]:
    """Per target its counts, and the unsent notifications (oldest first, at most ``limit``)."""
    now = time.time() if now is None else now
    counts = store.notify_counts()
    configured = {t.name: t for t in (config.notify if config is not None else ())}
    names = list(configured) + sorted(n for n in counts if n not in configured)
    targets = []
    for name in names:
        t = configured.get(name)
        c = counts.get(name, {"queued": 0, "failing": 0, "sent": 0, "rejected": 0, "oldest_unsent": None,
                              "last_sent": None, "last_error": None})
        targets.append({
            "name": name,
            "kind": t.kind if t else None,
            "where": (redact_url(t.url) if t.url else f"smtp {t.smtp}") if t else "(no longer configured)",
            "queued": c["queued"], "failing": c["failing"], "sent": c["sent"], "rejected": c["rejected"],
            "oldest_unsent": iso(c["oldest_unsent"]), "last_sent": iso(c["last_sent"]), "last_error": c["last_error"],
        })
    unsent = []
    for r in store.notifications(unsent_only=True, limit=limit):
        unsent.append({
            "id": r.id, "target": r.target, "event": r.event, "rule": r.grp,
            "alerts": [ev["target"] for ev in r.alerts], "created": iso(r.created_at),
            "attempts": r.attempts, "next_try": iso(max(r.next_try, r.ready_at)), "last_error": r.last_error,
        })
    return {"now": iso(now), "targets": targets, "unsent": unsent}


def _ago(text: str | None, now: float) -> str:
    t = parse_iso(text)  # what iso() wrote, back to Unix time
    if t is None:
        return "never"
    return f"{format_duration(max(0, round(now - t))) if now - t >= 1 else '0s'} ago"


def to_text(report: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    if not report["targets"]:
        return "no [[notify]] targets configured, and nothing in the outbox (see docs/config.md, [[notify]])\n"
    lines = []
    for t in report["targets"]:
        kind = f"{t['kind']} " if t["kind"] else ""
        line = (f"{t['name']} ({kind}{t['where']}): {t['queued']} queued, {t['failing']} failing, {t['sent']} sent"
                + (f", {t['rejected']} refused" if t["rejected"] else "")
                + f"; last sent {_ago(t['last_sent'], now)}")
        if t["oldest_unsent"]:
            line += f"; oldest unsent {_ago(t['oldest_unsent'], now)}"
        lines.append(line)
        if t["last_error"]:
            lines.append(f"  failing: {t['last_error']}")
    if report["unsent"]:
        lines += ["", "unsent (oldest first):"]
        for u in report["unsent"]:
            who = ", ".join(u["alerts"][:5]) + (f" and {len(u['alerts']) - 5} more" if len(u["alerts"]) > 5 else "")
            lines.append(f"  {u['id']} {u['target']}: {u['event']} {u['rule']} on {who}; "
                         f"{u['attempts']} attempt{'s' * (u['attempts'] != 1)}, next {u['next_try']}")
    return "\n".join(lines) + "\n"


def short_line(store: Store) -> str | None:
    """A few words for a header or a pane title ("notify: 3 queued, 1 failing"), or None when
    nothing waits."""
    counts = store.notify_counts()
    queued = sum(c["queued"] for c in counts.values())
    failing = sum(c["failing"] for c in counts.values())
    if not queued and not failing:
        return None
    parts = [f"{queued} queued"] if queued else []
    if failing:
        parts.append(f"{failing} failing")
    return "notify: " + ", ".join(parts)
