"""The handover's SLA section: the last 7 days' availability and budget left per endpoint
with an SLO, whether maintenance was excluded, and the burn-rate alerts of the shift."""

from __future__ import annotations

from pathlib import Path

from opsdash.config import parse_config
from opsdash.report.handover import handover, to_markdown
from opsdash.store import Store
from tests.support.sla_data import NOW, T0, build_store, config_text, hand_figures


def test_the_handover_lists_the_weeks_sla_and_the_shifts_burn_alerts(tmp_path: Path) -> None:
    build_store(tmp_path / "s.sqlite", T0)
    with Store(tmp_path / "s.sqlite", readonly=True) as st:
        r = handover(st, parse_config(config_text(T0)), since=8 * 3600.0, now=NOW)
    (e,) = r["sla"]
    assert abs(e["availability_percent"] - hand_figures(True)["availability"]) < 0.01
    # the shift is the last 8 hours (from 16:00 on day 6): the slow burn of 15:05 resolved at 21:05 in it
    assert [(b["rule"], b["resolved_at"]) for b in e["burn_alerts"]] == [("slo-burn-slow", "2025-12-07T21:05:00Z")]
    md = to_markdown(r)
    line = next(ln for ln in md.split("## SLA: the last 7 days (1)", 1)[1].splitlines() if ln.startswith("- shop"))
    assert f"{hand_figures(True)['availability']:.3f}% (SLO 99.9%)" in line and "maintenance excluded" in line
    assert "slo-burn-slow fired 2025-12-07T15:05:00Z, resolved 2025-12-07T21:05:00Z" in line
