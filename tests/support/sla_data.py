"""A hand-built week for the SLA tests: outages, a maintenance window, a slow hour, and the figures
computed by hand from it."""

from __future__ import annotations

import math
from pathlib import Path

from opsdash.model import Sample, iso
from opsdash.store import Store

MIN = 60.0
WEEK_MIN = 7 * 24 * 60  # minutes in the week
DAY_MIN = 24 * 60
SLO = 99.9
ALLOWED = 1 - SLO / 100  # the share of time that may be down


def minute(day: int, hh: int, mm: int) -> int:
    return day * DAY_MIN + hh * 60 + mm


# Known outages (minutes down), and a maintenance window over one of them.
OUTAGE_A = range(minute(3, 10, 0), minute(3, 10, 30))   # 30 min: every burn-rate alert fires
OUTAGE_B = range(minute(5, 2, 0), minute(5, 2, 20))     # 20 min inside the maintenance window
OUTAGE_C = range(minute(6, 15, 0), minute(6, 15, 5))    # 5 min
MAINT = range(minute(5, 1, 30), minute(5, 3, 30))       # 2 h, one-shot
SLOW_HOUR = range(minute(4, 12, 0), minute(4, 13, 0))   # TTFB 900 ms
DOWN = set(OUTAGE_A) | set(OUTAGE_B) | set(OUTAGE_C)


def config_text(t0: float, exclude: bool = True) -> str:
    return f'''
[sla]
exclude_maintenance = {"true" if exclude else "false"}

[[endpoints]]
name = "shop"
url = "http://127.0.0.1:9/"
interval = "1m"
slo = {{ availability = {SLO}, ttfb_p95_ms = 400 }}

[[maintenance]]
name = "db-upgrade"
match = {{ target = "shop" }}
start = "{iso(t0 + MAINT.start * MIN)}"
duration = "2h"
'''


def ttfb(i: int) -> float:
    return 900.0 if i in SLOW_HOUR else 100.0 + (i % 50) * 4.0


def p95_sample(i: int) -> float:
    return 900.0 if i in SLOW_HOUR else 300.0


def build_store(path: Path, t0: float) -> None:
    """A poll a minute for a week and one more (the poll at the week's end)."""
    samples = []
    for i in range(WEEK_MIN + 1):
        t = t0 + i * MIN
        up = i not in DOWN
        lab = {"vantage": "local"}
        samples.append(Sample(t, "shop", "endpoint.up", 1.0 if up else 0.0, lab))
        if up:
            samples.append(Sample(t, "shop", "endpoint.ttfb_ms", ttfb(i), lab))
        samples.append(Sample(t, "shop", "endpoint.ttfb_p95_ms", p95_sample(i), lab))
    with Store(path) as st:
        st.write_samples(samples)


# --- the hand computation -------------------------------------------------------------------------


def hand_percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def hand_figures(exclude: bool) -> dict:
    counted = [i for i in range(WEEK_MIN) if not (exclude and i in MAINT)]  # minute i: the poll at i stands for it
    down = sum(1 for i in counted if i in DOWN)
    cov_s = len(counted) * MIN
    budget = ALLOWED * cov_s
    ttfbs = [ttfb(i) for i in range(WEEK_MIN + 1) if i not in DOWN and not (exclude and i in MAINT)]
    under = sum(1 for i in counted if p95_sample(i) <= 400)
    return {"availability": 100 * (1 - down / len(counted)), "covered_s": cov_s, "down_s": down * MIN,
            "budget_s": budget, "left_s": budget - down * MIN, "p95": hand_percentile(ttfbs, 95),
            "compliance": 100 * under / len(counted)}


def hand_burn_alerts(t0: float, exclude: bool) -> list[tuple[str, str, str | None]]:
    """Evaluate at each poll k: window W minutes back covers minutes [k-W, k); fires when both
    windows burn strictly above the factor, resolves when the lower is at or under it."""
    alerts = [("slo-burn-fast", 60, 5, 14.4), ("slo-burn-medium", 360, 30, 6.0), ("slo-burn-slow", 3 * 1440, 360, 1.0)]
    counted = [0 if exclude and i in MAINT else 1 for i in range(WEEK_MIN)]
    bad = [1 if (i in DOWN and counted[i]) else 0 for i in range(WEEK_MIN)]
    cum_c, cum_b = [0], [0]
    for i in range(WEEK_MIN):
        cum_c.append(cum_c[-1] + counted[i])
        cum_b.append(cum_b[-1] + bad[i])

    def burn(k: int, w: int) -> float | None:
        a = max(0, k - w)
        c = cum_c[k] - cum_c[a]
        return None if c == 0 else (cum_b[k] - cum_b[a]) / c / ALLOWED

    out = []
    for rule, long_w, short_w, factor in alerts:
        firing_since = None
        for k in range(1, WEEK_MIN + 1):
            lw, sw = burn(k, long_w), burn(k, short_w)
            if lw is None or sw is None:
                continue
            v = round(min(lw, sw), 6)
            if firing_since is None and v > factor:
                firing_since = k
            elif firing_since is not None and v <= factor:
                out.append((rule, iso(t0 + firing_since * MIN), iso(t0 + k * MIN)))
                firing_since = None
        if firing_since is not None:
            out.append((rule, iso(t0 + firing_since * MIN), None))
    return sorted(out, key=lambda x: (x[1], x[0]))


# --- the tests -----------------------------------------------------------------------------------------

T0 = 1764547200.0  # 2025-12-01T00:00:00Z, a Monday
NOW = T0 + WEEK_MIN * MIN
