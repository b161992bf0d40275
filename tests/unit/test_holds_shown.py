"""A held alert (a maintenance window, a parent down) is shown with its reason wherever
alerts are read: the TUI's alerts pane and header, `opsdash alerts`, and the handover,
which also lists the windows running and starting in the report's window."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from opsdash.alerts.engine import engine_for
from opsdash.config import parse_config
from opsdash.model import Sample
from opsdash.report.handover import handover, to_markdown
from opsdash.store import Store
from opsdash.ui.data import build_view, header_counts, load_snapshot

T0 = dt.datetime(2026, 12, 5, 1, 10, tzinfo=dt.timezone.utc).timestamp()  # Sat 02:10 in Berlin

CONFIG = """
[[hosts]]
name = "bastion"
[[hosts]]
name = "app-1"
jump = "bastion"
[[hosts]]
name = "db-1"
tags = { role = "db" }
[[maintenance]]
name = "sat-patching"
match = { role = "db" }
every = "sat 02:00"
duration = "2h"
tz = "Europe/Berlin"
[[maintenance]]
name = "kernel"
match = { target = "app-1" }
start = "2026-12-05T05:00:00Z"
duration = "1h"
"""


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(tmp_path: Path):
    cfg = parse_config(CONFIG)
    with Store(tmp_path / "s.sqlite") as s:
        engine = engine_for(cfg, s)
        for k in range(3):
            engine.observe([Sample(T0 + 15 * k, x, "host.up", 0.0) for x in ("app-1", "bastion", "db-1")])
        yield cfg, s


def test_the_alerts_pane_and_header_show_why_an_alert_is_held(store) -> None:
    cfg, s = store
    now = T0 + 60
    view = build_view(load_snapshot(s, now, windows=cfg.maintenance))
    rows = {r.ref.target: r for r in view.rows["alerts"] if r.ref.kind == "alert"}
    assert "suppressed: bastion down" in rows["app-1"].cells[3][0] and rows["app-1"].cells[5][0] == "held"
    assert "suppressed: maintenance sat-patching" in rows["db-1"].cells[3][0]
    assert "1 dependant suppressed: app-1" in rows["bastion"].cells[3][0]
    assert rows["bastion"].cells[5][0] == ""
    text = "".join(t for g in header_counts(view.summary) for t, _ in g)
    assert "2 held" in text and "maint: sat-patching until 03:00" in text
    assert view.summary.crit == 1  # only bastion asks for someone
    brief = "".join(t for g in header_counts(view.summary, brief=True) for t, _ in g)
    assert "maint sat-patching" in brief


def test_opsdash_alerts_prints_the_reason(store, tmp_path: Path, capsys) -> None:
    from opsdash.cli import main

    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(CONFIG)
    assert main(["alerts", "--config", str(cfg_path), "--store", str(tmp_path / "s.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "suppressed: bastion down" in out and "SUPPRESSED" in out
    assert "suppressed: maintenance sat-patching" in out


def test_the_handover_lists_windows_running_and_coming(store) -> None:
    cfg, s = store
    r = handover(s, cfg, since=8 * 3600, now=T0 + 60)
    running = {w["name"]: w for w in r["maintenance"]["active"]}
    assert running["sat-patching"]["end"] == "2026-12-05T03:00:00Z"
    coming = [w["name"] for w in r["maintenance"]["upcoming"]]
    assert coming[0] == "kernel"
    held = {a["target"]: a["suppressed_by"] for a in r["open_alerts"]}
    assert held["app-1"] == "bastion down" and held["db-1"] == "maintenance sat-patching"
    md = to_markdown(r)
    assert "## Maintenance windows" in md and "sat-patching" in md and "kernel" in md
    assert "suppressed: bastion down" in md


def test_a_held_alert_does_not_raise_once_status() -> None:
    import dataclasses

    from opsdash.model import Alert
    from opsdash.report.snapshot import overall_status

    held = Alert(id="x", rule="disk", target="db-1", severity="critical", state="firing", since=0.0, value=99.0,
                 summary="db-1: disk 99%", suppressed_by="maintenance sat-patching")
    assert overall_status([], [], [held]) == "ok"
    assert overall_status([], [], [dataclasses.replace(held, suppressed_by=None)]) == "critical"
