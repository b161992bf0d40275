"""A store where eleven "security updates" alerts wait out their 7-day `for` and one alert fires:
the first hour of a fresh install, when far-off pending alerts buried the firing one."""

from __future__ import annotations

from pathlib import Path

from opsdash.model import Alert
from opsdash.store import Store

DAY = 86400.0


def build_far_pending_store(path: Path, now: float) -> Path:
    store = Store(path)
    alerts = [Alert("a-web3-down", "host-down", "web-3", "critical", "firing", now - 300, 0.0, "web-3 is unreachable")]
    alerts += [Alert(f"a-sec-{i:02d}", "security-updates", f"host-{i:02d}", "warning", "pending", now - 3600 - i * 60,
                     3.0, f"host-{i:02d}: 3 security updates pending") for i in range(11)]
    # fires in a minute: stays a row of its own, above the folded line
    alerts.append(Alert("a-cache-hit", "cache-hit-rate", "cache-1", "warning", "pending", now - 60, 0.42,
                        "cache-1/pages hit rate 42%"))
    for a in alerts:
        store.upsert_alert(a, now)
    store.close()
    return path
