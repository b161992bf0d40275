"""The header tells the truth (a critical acked or silenced still shows, stale hosts are stale,
not down), the CLI views say when nobody refreshes the store, and the TUI ends silences (u)
and checks a silence's matchers like the CLI does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsdash.alerts import queue
from opsdash.cli import main
from opsdash.model import Alert
from opsdash.report.handover import handover, to_markdown
from opsdash.report.staleness import staleness_line
from opsdash.store import Store
from opsdash.ui import data
from opsdash.ui.dialogs import SilenceDialog, UnsilenceDialog
from opsdash.ui.help import HelpScreen
from opsdash.ui.keybar import KeyBar
from tests.support.ui_app import LARGE, SMALL, header, make_app, ready, screen_text, two_hosts, until
from tests.support.ui_fixtures import NOW, build_store


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# --- the header's counts (pure) -------------------------------------------------------------------


def summary(alerts: list[Alert], hosts_age: float = 5, state: str = "ok") -> data.Summary:
    snap = data.Snapshot(now=NOW, alerts=alerts, hosts=[
        {"target": n, "t": NOW - hosts_age, "data": {"state": state, "t": NOW - hosts_age, "interval": 15}}
        for n in ("web-1", "web-2")])
    return data.summarize(snap, {})


def text(groups) -> list[str]:
    return ["".join(t for t, _ in g) for g in groups]


def crit(aid: str, **kw) -> Alert:
    return Alert(aid, "cpu", "web-1", "critical", "firing", NOW - 60, 99.0, **kw)


def test_header_counts_an_acked_critical_and_the_silenced():
    assert text(data.header_counts(summary([crit("a", acked=True)]))) == ["hosts 2/2 up", "✖ 1 crit (1 acked)"]
    s = summary([crit("a", acked=True), crit("b", silenced=True),
                 Alert("c", "disk", "web-2", "warning", "firing", NOW - 60, 91.0, silenced=True)])
    assert text(data.header_counts(s)) == ["hosts 2/2 up", "✖ 1 crit (1 acked) · 2 silenced"]
    assert text(data.header_counts(summary([crit("b", silenced=True)]))) == ["hosts 2/2 up", "1 silenced"]
    assert text(data.header_counts(summary([crit("a"), crit("b", acked=True)]), brief=True)) == [
        "2/2 up", "✖ 2 (1 ack)"]
    assert text(data.header_counts(summary([]))) == ["hosts 2/2 up", "● no alerts firing"]
    # Only an unhandled critical is drawn as critical; an acked one is there, in the muted style.
    assert data.header_counts(summary([crit("a", acked=True)]))[1][0] == ("✖ 1 crit", "muted")
    assert data.header_counts(summary([crit("a")]))[1][0] == ("✖ 1 crit", "crit")


def test_header_says_stale_not_down():
    assert text(data.header_counts(summary([], hosts_age=360, state="unreachable"))) == [
        "hosts 2 stale 6m", "● no alerts firing"]
    assert text(data.header_counts(summary([], hosts_age=5, state="unreachable"))) == [
        "hosts 0/2 up", "● no alerts firing"]  # fresh and down: down
    snap = data.Snapshot(now=NOW, hosts=[
        {"target": "a", "t": NOW - 5, "data": {"state": "ok", "t": NOW - 5, "interval": 15}},
        {"target": "b", "t": NOW - 600, "data": {"state": "unreachable", "t": NOW - 600, "interval": 15}}])
    assert text(data.header_counts(data.summarize(snap, {}))) == ["hosts 1/2 up · 1 stale", "● no alerts firing"]
    assert text(data.header_counts(data.summarize(snap, {}), brief=True)) == ["1/2 up ◌1", "● no alerts firing"]


# --- the header in the app (pilot) ----------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_header_shows_an_acked_critical_and_silenced_alerts(tmp_path: Path, size):
    path = two_hosts(tmp_path / "s.sqlite", age=5)
    with Store(path) as s:
        s.upsert_alert(crit("a-cpu"), NOW)
        s.upsert_alert(Alert("a-disk", "disk", "web-2", "warning", "firing", NOW - 60, 91.0), NOW)
        s.upsert_alert(Alert("a-mem", "memory", "web-2", "critical", "firing", NOW - 60, 97.0), NOW)
        queue.ack(s, "a-cpu", note="on it", who="ann", now=NOW - 30)
        queue.silence(s, {"target": "web-2"}, 3600, who="ann", now=NOW - 30)
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        line = header(app)
        assert "no alerts firing" not in line
        assert ("✖ 1 (1 ack)" if size == SMALL else "✖ 1 crit (1 acked)") in line, line
        assert "2 silenced" in line and ("hosts 2/2 up" in line or "2/2 up" in line), line
        assert len(line) <= size[0]


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_header_says_stale_when_the_collector_has_not_refreshed(tmp_path: Path, size):
    path = two_hosts(tmp_path / "s.sqlite", age=360, state="unreachable")
    with Store(path) as s:
        s.heartbeat(dead_pid(), NOW - 3600, NOW - 360)
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        line = header(app)
        assert "0/2 up" not in line and "stale 6m" in line, line
        assert "collector stopped" in line, line


# --- the CLI views ----------------------------------------------------------------------------------


def test_staleness_line_wording(tmp_path: Path):
    now = time.time()
    with Store(tmp_path / "s.sqlite") as s:
        assert staleness_line(s, now) == (
            "no data yet: no collector has written this store (run `opsdash collect` or `opsdash`)")
        s.heartbeat(dead_pid(), now - 3600, now - 360)
        assert staleness_line(s, now) == "data is 6m old: no collector is running"
        s.heartbeat(os.getpid(), now - 3600, now - 360)  # alive, but not writing
        assert staleness_line(s, now) == f"data is 6m old: the collector (pid {os.getpid()}) has not written for 6m"
        s.heartbeat(os.getpid(), now - 3600, now - 1)
        assert staleness_line(s, now) is None


@pytest.fixture
def stale_store(tmp_path: Path) -> Path:
    now = time.time()
    path = two_hosts(tmp_path / "s.sqlite", age=360, now=now)
    with Store(path) as s:
        s.upsert_alert(Alert("a-cpu", "cpu", "web-1", "critical", "firing", now - 900, 99.0), now)
        s.heartbeat(dead_pid(), now - 3600, now - 360)
    (tmp_path / "none.toml").write_text("")
    return path


def run_cli(path: Path, *argv: str) -> int:
    return main([*argv, "--store", str(path), "--config", str(path.parent / "none.toml")])


def test_alerts_and_handover_say_the_data_is_stale(stale_store: Path, capsys):
    assert run_cli(stale_store, "alerts") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "data is 6m old: no collector is running"
    assert run_cli(stale_store, "alerts", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["stale"] == "data is 6m old: no collector is running"
    assert run_cli(stale_store, "handover") == 0
    md = capsys.readouterr().out
    assert md.splitlines()[2] == "> **data is 6m old: no collector is running**"
    assert run_cli(stale_store, "handover", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["stale"] == "data is 6m old: no collector is running"


def test_a_live_collector_means_no_staleness_line(stale_store: Path, capsys):
    with Store(stale_store) as s:
        s.heartbeat(os.getpid(), time.time() - 60, time.time())
    assert run_cli(stale_store, "alerts") == 0
    assert "data is" not in capsys.readouterr().out
    with Store(stale_store, readonly=True) as s:
        assert handover(s, None, now=time.time())["stale"] is None
        assert "data is" not in to_markdown(handover(s, None, now=time.time()))


async def test_the_tui_handover_says_the_data_is_stale(tmp_path: Path):
    path = two_hosts(tmp_path / "s.sqlite", age=360)
    with Store(path) as s:
        s.heartbeat(dead_pid(), NOW - 3600, NOW - 360)
    app = make_app(path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("h")
        await until(pilot, lambda: getattr(app.screen, "markdown", None), "the handover")
        assert "data is 6m old: no collector is running" in app.screen.markdown


# --- silences from the TUI --------------------------------------------------------------------------


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return build_store(tmp_path / "store.sqlite", NOW)


async def test_u_ends_the_silence_covering_the_selected_alert(fleet: Path):
    app = make_app(fleet)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("6")
        row = app.pane("alerts").selected()
        with Store(fleet) as s:
            sid = queue.silence(s, {"target": row.ref.target}, 3600, note="maint", who="ann", now=NOW - 10)
            queue.silence(s, {"target": "nowhere-near"}, 3600, who="ann", now=NOW - 10)
        assert "u Unsilence" in str(app.screen.query_one(KeyBar).render())
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UnsilenceDialog) and app.screen.silences is not None,
                    "the unsilence dialog")
        assert [s.id for s in app.screen.silences] == [sid]
        assert f"#{sid} target={row.ref.target} by ann" in screen_text(app)
        await pilot.press("enter")
        with Store(fleet, readonly=True) as s:
            await until(pilot, lambda: [x.id for x in s.active_silences(NOW)] == [sid + 1], "the silence ended")


async def test_u_is_on_the_alert_drill_down_key_bar_and_in_help(fleet: Path):
    app = make_app(fleet)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("6", "enter")
        await until(pilot, lambda: app.screen.query(KeyBar), "the drill-down")
        assert "u Unsilence" in str(app.screen.query_one(KeyBar).render())
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        assert "Unsilence" in screen_text(app)


async def test_the_silence_dialog_refuses_a_typo_with_did_you_mean(fleet: Path):
    app = make_app(fleet)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("6", "s")
        await until(pilot, lambda: isinstance(app.screen, SilenceDialog), "the silence dialog")
        dlg = app.screen
        dlg.query_one("#matchers").value = "targt=web-1"
        dlg.query_one("#note").focus()
        await pilot.press("enter")
        await until(pilot, lambda: "did you mean" in screen_text(app), "the error")
        assert 'unknown label "targt"; did you mean "target"?' in screen_text(app)
        assert isinstance(app.screen, SilenceDialog)
        dlg.query_one("#matchers").value = "target=web-1 role=web"
        dlg.query_one("#note").focus()
        await pilot.press("enter")
        with Store(fleet, readonly=True) as s:
            await until(pilot, lambda: s.active_silences(NOW), "the silence")
            assert [x.matchers for x in s.active_silences(NOW)] == [{"target": "web-1", "role": "web"}]
