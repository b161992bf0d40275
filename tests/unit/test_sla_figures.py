"""SLA figures on a prepared week equal a hand computation: availability to 0.01 %, the
error budget, TTFB p95 and time under it, and the burn-rate alert times, in JSON and
Markdown. The store is written with the real Store API; the expectations below are
worked out minute by minute in plain Python, never by calling opsdash.sla."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

from opsdash.config import parse_config
from opsdash.model import iso
from opsdash.report.sla import sla_report, to_json, to_markdown
from opsdash.store import Store
from tests.support.sla_data import MAINT, MIN, NOW, SLO, T0, WEEK_MIN, build_store, config_text, hand_burn_alerts, hand_figures


def test_the_week_equals_the_hand_computation_in_json_and_markdown(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    build_store(path, T0)
    cfg = parse_config(config_text(T0))
    with Store(path, readonly=True) as st:
        started = time.monotonic()
        report = json.loads(to_json(sla_report(st, cfg, since=30 * 86400.0, now=NOW)))
        md = to_markdown(sla_report(st, cfg, since=30 * 86400.0, now=NOW))
        assert time.monotonic() - started < 10
    hand = hand_figures(exclude=True)
    assert report["exclude_maintenance"] is True and "maintenance windows excluded" in report["maintenance"]
    assert "time-weighted by poll" in report["method"]
    (ep,) = report["endpoints"]
    for label in ("7d", "30d"):  # the store holds one week: both periods see the same polls
        p = ep["periods"][label]
        assert abs(p["availability_percent"] - hand["availability"]) < 0.01, (label, p, hand)
        assert abs(p["covered_s"] - hand["covered_s"]) < 1e-6
        assert abs(p["down_s"] - hand["down_s"]) < 1e-6
        assert abs(p["excluded_s"] - 2 * 3600) < 1e-6
        assert abs(p["budget_s"] - hand["budget_s"]) < 1e-3
        assert abs(p["budget_left_s"] - hand["left_s"]) < 1e-3
        assert p["slo_met"] is (hand["availability"] >= SLO)
        assert abs(p["ttfb"]["p95_ms"] - hand["p95"]) < 1e-6
        assert abs(p["ttfb"]["compliance_percent"] - hand["compliance"]) < 0.01
    burns = [(b["rule"], b["fired_at"], b["resolved_at"]) for b in ep["burn_alerts"]]
    expected = hand_burn_alerts(T0, exclude=True)
    assert burns == expected
    assert {r for r, _, _ in expected} == {"slo-burn-fast", "slo-burn-medium", "slo-burn-slow"}
    assert not any(iso(T0 + MAINT.start * MIN) <= f < iso(T0 + MAINT.stop * MIN) for _, f, _ in burns)

    # Markdown: the same figures, on the endpoint's rows and the burn-rate table.
    assert "maintenance windows excluded" in md
    row7 = next(ln for ln in md.splitlines() if ln.startswith("| shop | 7d |"))
    assert f"{hand['availability']:.3f}%" in row7
    budget = round(hand["budget_s"])
    assert f"| {budget // 60}m{budget % 60}s |" in row7 or f"| {budget // 60}m |" in row7
    assert f"{hand['p95']:.0f} ms" in row7
    for rule, fired, resolved in expected:
        assert any(ln.startswith(f"| shop | {rule} |") and fired in ln and (resolved or "still firing") in ln
                   for ln in md.splitlines()), (rule, fired)


def test_counting_maintenance_is_a_switch_stated_on_the_report(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    build_store(path, T0)
    cfg = parse_config(config_text(T0, exclude=False))
    with Store(path, readonly=True) as st:
        report = sla_report(st, cfg, since=7 * 86400.0, now=NOW)
    hand = hand_figures(exclude=False)
    assert report["exclude_maintenance"] is False and "maintenance windows counted" in report["maintenance"]
    p = report["endpoints"][0]["periods"]["7d"]
    assert abs(p["availability_percent"] - hand["availability"]) < 0.01
    assert p["excluded_s"] == 0 and abs(p["down_s"] - 55 * MIN) < 1e-6
    burns = [(b["rule"], b["fired_at"], b["resolved_at"]) for b in report["endpoints"][0]["burn_alerts"]]
    assert burns == hand_burn_alerts(T0, exclude=False)
    assert any(iso(T0 + MAINT.start * MIN) <= f < iso(T0 + MAINT.stop * MIN) for _, f, _ in burns)
    assert "maintenance windows counted" in to_markdown(report)


def test_opsdash_sla_prints_the_report_from_the_store(tmp_path: Path) -> None:
    """The command on a week ending now: JSON and Markdown with the same availability."""
    now = math.floor(time.time() / 60) * 60
    t0 = now - WEEK_MIN * MIN
    store = tmp_path / "s.sqlite"
    build_store(store, t0)
    cfg = tmp_path / "config.toml"
    cfg.write_text(config_text(t0))
    hand = hand_figures(exclude=True)

    def sla(fmt: str) -> str:
        r = subprocess.run([sys.executable, "-m", "opsdash", "sla", "--since", "7d", "--format", fmt,
                            "--config", str(cfg), "--store", str(store)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    got = json.loads(sla("json"))["endpoints"][0]["periods"]["7d"]
    assert abs(got["availability_percent"] - hand["availability"]) < 0.01
    assert abs(got["budget_s"] - hand["budget_s"]) < 1.0  # the command's clock runs on a few seconds
    row = next(ln for ln in sla("md").splitlines() if ln.startswith("| shop | 7d |"))
    assert abs(float(row.split("|")[3].split("%")[0]) - hand["availability"]) < 0.01
