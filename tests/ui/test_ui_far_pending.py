"""Far-off pending alerts fold into one line under the firing ones; Enter opens and folds it.
The handover lists them as "pending, would fire in ...", never as still open."""

from __future__ import annotations

import json
import time
from pathlib import Path

from opsdash.report.handover import handover, to_json, to_markdown
from opsdash.store import Store
from opsdash.ui.app import OpsdashApp
from opsdash.ui.detail import DetailScreen
from tests.support.far_pending_store import build_far_pending_store
from tests.support.tmux_screen import TmuxScreen, needs_tmux

NOW = 1_790_000_000.0


def _rows(screen: str) -> list[str]:
    lines = screen.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("Sev"))
    return [ln for ln in lines[start + 1:] if ln.strip()][:-1]  # the last line is the key bar


@needs_tmux
def test_the_firing_alert_leads_and_eleven_far_off_pending_are_one_line(tmp_path: Path) -> None:
    store = build_far_pending_store(tmp_path / "store.sqlite", time.time())
    config = tmp_path / "config.toml"
    config.write_text('[[hosts]]\nname = "web-1"\n')  # the built-in rules: security-updates waits 7d
    with TmuxScreen(["run", "--no-collector", "--config", str(config), "--store", str(store), "--theme", "monochrome"],
                    name="fold") as screen:
        screen.wait_for("1 Health")
        screen.keys("6")
        rows = _rows(screen.wait_for("▸ 11"))
        assert "web-3 is unreachable" in rows[0] and "firing" in rows[0], rows
        assert "cache-1" in rows[1] and "in 9m" in rows[1], rows  # fires soon: a row of its own
        assert "▸ 11" in rows[2] and "fire in 7d or later" in rows[2], rows
        assert len(rows) == 3, rows
        screen.keys("Down", "Down", "Enter")
        rows = _rows(screen.wait_for("▾ 11", timeout=5))
        assert len(rows) == 14 and sum("security updates" in r for r in rows) == 11, rows
        assert "Raw last probe output" not in screen.text()  # Enter opened the line, not a drill-down
        screen.keys("Enter")  # the cursor stays on the line: Enter folds them again
        rows = _rows(screen.wait_for("▸ 11", timeout=5))
        assert len(rows) == 3, rows


async def test_enter_on_the_line_opens_it_and_a_filter_counts_what_matches(tmp_path: Path) -> None:
    path = build_far_pending_store(tmp_path / "store.sqlite", NOW)
    from opsdash.config import parse_config

    cfg = parse_config('[[hosts]]\nname = "web-1"\n')
    app = OpsdashApp(store_path=path, config=cfg, now=lambda: NOW, save_theme=False, user_themes=tmp_path / "none",
                     poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            await pilot.pause(0.02)
            if app.settled:
                break
        await pilot.press("6")
        pane = app.pane("alerts")
        keys = [t.key for t in pane.table.rows_in_view()]
        assert keys == ["alert:a-web3-down", "alert:a-cache-hit", "fold:far-pending"], keys
        await pilot.press("end")
        assert pane.selected() is None  # the line is no alert: a, s, e find nothing to act on
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert not isinstance(app.screen, DetailScreen)
        assert len(list(pane.table.rows_in_view())) == 14
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert len(list(pane.table.rows_in_view())) == 3
        await pilot.press("slash", *"host-0", "enter")
        await pilot.pause(0.1)
        texts = [t.version[0][0] for t in pane.table.rows_in_view()]
        assert texts == ["▸ 10"], texts  # host-00 .. host-09 match; folded still, counted


def test_the_handover_does_not_count_far_off_pending_as_still_open(tmp_path: Path) -> None:
    path = build_far_pending_store(tmp_path / "store.sqlite", NOW)
    with Store(path, readonly=True) as store:
        r = handover(store, None, now=NOW)
    assert r["counts"]["open"] == 2  # the firing one and the one that fires in 9m
    assert [a["id"] for a in r["open_alerts"]] == ["a-web3-down", "a-cache-hit"]
    assert len(r["pending_later"]) == 11
    first = r["pending_later"][0]
    assert first["target"] == "host-10" and 6 * 86400 < first["fires_in_s"] < 7 * 86400
    assert "2 still open" in r["summary"] and "11 pending, would fire in 6d" in r["summary"], r["summary"]
    md = to_markdown(r)
    assert "## Open alerts (2)" in md and "## Pending, would fire in more than 1h (11)" in md
    assert "security-updates" not in md.split("## Pending, would fire")[0]  # none listed as open
    assert json.loads(to_json(r))["pending_later"][0]["fires_at"]
