"""Pilot tests: every key, both layouts, keyed diffs, hostile text, writes to the store."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from rich.console import Console, Group

from opsdash.config import load_config
from opsdash.model import Alert
from opsdash.store import Store
from opsdash.ui.data import PANES, Ref
from opsdash.ui.detail import DetailScreen, fmt_duration, fmt_field
from opsdash.ui.keybar import KeyBar
from opsdash.ui.dialogs import AckDialog, PacketScreen, SilenceDialog
from opsdash.ui.help import HelpScreen
from tests.support.ui_app import LARGE, SMALL, _env, make_app, ready, screen_text, store_path, until  # noqa: F401
from tests.support.ui_fixtures import HOSTILE, NOW


class FakeCollector:
    running = True

    def __init__(self) -> None:
        self.refreshes = 0

    def refresh_now(self) -> None:
        self.refreshes += 1


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_layout_tabs_when_small_grid_when_large(store_path: Path, size):
    app = make_app(store_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        visible = [p.pane_id for p in app.panes if p.display and p.region.area]
        if size == SMALL:
            assert not app.has_class("-wide") and visible == ["health"]
            assert app.query_one("#tabs").display
        else:
            assert app.has_class("-wide") and visible == list(PANES)
        text = screen_text(app)
        # NOW in UTC; old-1 is stale, not down. Every firing critical counts, the acked one too
        # (the header's short forms at 80 columns).
        assert ("9/13 up ◌1" if size == SMALL else "hosts 9/13 up · 1 stale") in text and "14:13:20" in text
        assert ("✖ 4 (1 ack)" if size == SMALL else "✖ 4 crit (1 acked)") in text


async def test_resize_switches_live_and_keeps_the_cursor(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("down", "down", "down")
        before = app.pane("health").selected()
        await pilot.resize_terminal(*LARGE)
        await pilot.pause(0.1)
        assert app.has_class("-wide")
        assert all(p.display for p in app.panes)
        await pilot.resize_terminal(*SMALL)
        await pilot.pause(0.1)
        assert not app.has_class("-wide")
        assert app.pane("health").selected() == before


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_number_keys_jump_to_each_pane(store_path: Path, size):
    app = make_app(store_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        for i, pane in enumerate(PANES):
            await pilot.press(str(i + 1))
            assert app.active_pane == pane
            assert app.focused is app.pane(pane).table
            if size == SMALL:
                assert [p.pane_id for p in app.panes if p.display] == [pane]


async def test_an_untouched_cursor_stays_on_the_worst_row(store_path: Path):
    # Until the user moves it, the cursor is on the top row whatever re-sorts under it: when
    # the worst host recovers and sinks, the cursor stays on top, on the new worst one.
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        table = app.pane("health").table
        top, second = table.row_keys[:2]
        assert table.cursor_row == 0 and table.cursor_key == top
        host = top.removeprefix("host:")
        with Store(store_path) as store:
            healthy = store.latest("host", "web-1")[0]["data"]
            store.put_latest("host", host, "", NOW, {**healthy, "name": host, "t": NOW})
        app.poll()
        await until(pilot, lambda: table.row_keys[0] == second, f"{host} recovered and sank")
        assert table.cursor_row == 0 and table.cursor_key == second
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        assert app.screen.ref.target == second.removeprefix("host:")
        await pilot.press("escape", "down")  # now the user has chosen a row: it is followed by key
        chosen = table.cursor_key
        with Store(store_path) as store:
            # a new t: the TUI re-reads only rows whose t changed
            store.put_latest("host", host, "", NOW - 1, {**healthy, "name": host, "state": "timeout", "health": None, "t": NOW - 1})
        app.poll()
        await until(pilot, lambda: table.row_keys[0] == top, f"{host} down again, on top")
        assert table.cursor_key == chosen and table.cursor_row == 2


async def test_spare_width_goes_to_names_and_summaries_not_blank_space(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(pilot)
        await pilot.pause(0.1)
        for pane in app.panes:
            t = pane.table
            assert sum(t._widths) == t.scrollable_content_region.width, pane.pane_id  # no blank right edge
        alerts = app.pane("alerts").table
        keys = [k for k, _, _ in alerts._columns]
        base = {k: w for k, _, w in alerts._columns}
        got = dict(zip(keys, alerts._widths))
        # The room goes first where the cells need it: here the long (hostile) summary wants more
        # than there is, and every target fits its column already (test_ui_units_and_widths.py
        # has the shares by weight that follow).
        spare = alerts.scrollable_content_region.width - sum(base.values())
        assert got["summary"] - base["summary"] == spare > 0 and got["target"] == base["target"]
        assert got["sev"] == base["sev"] and got["since"] == base["since"]
        await pilot.resize_terminal(*SMALL)  # and back when the room goes
        await pilot.press("6")
        await pilot.pause(0.1)
        assert sum(alerts._widths) == max(sum(base.values()), alerts.scrollable_content_region.width)


async def test_filtering_and_pane_switches_repaint_what_changed_not_the_screen(store_path: Path, monkeypatch):
    # At 160x48 all six panes re-filter on every key. A full-screen repaint per key (an App
    # reactive, Textual's Screen.focused), or a layout of the whole screen (a table's virtual
    # size, an empty-message widget, a filter box shown, hidden or growing) made typing there
    # cost 100+ ms a key at 1000 hosts.
    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.pause(0.2)  # the first frames are drawn whole
        compositor = app.screen._compositor
        counts = {"full": 0, "layout": 0}
        full, layout = compositor.render_full_update, app.screen._refresh_layout

        def count_full(*a, **k):
            counts["full"] += 1
            return full(*a, **k)

        def count_layout(*a, **k):
            counts["layout"] += 1
            return layout(*a, **k)

        monkeypatch.setattr(compositor, "render_full_update", count_full)
        monkeypatch.setattr(app.screen, "_refresh_layout", count_layout)
        await pilot.press("slash")
        await pilot.pause(0.05)
        keys = "zzz-no-such-host"
        for k in keys:
            await pilot.press(k)
            await pilot.pause(0.02)
        await until(pilot, lambda: all(p.shown == 0 for p in app.panes), "every pane filtered empty")
        await pilot.pause(0.1)
        text = screen_text(app)  # a full render of its own
        counts["full"] -= 1
        assert text.count("no rows match the filter") == 6  # drawn by each table, no extra widget
        assert f"filter: {keys}" in text
        await pilot.press("enter", "2", "1", "escape")
        await until(pilot, lambda: all(p.shown == p.total for p in app.panes), "the filter cleared")
        await pilot.pause(0.1)
        assert app.focused is app.pane("health").table
        assert counts == {"full": 0, "layout": 0}


async def test_a_burst_of_filter_keys_refilters_once_with_the_last_text(store_path: Path, monkeypatch):
    from opsdash.ui.filterline import FilterLine

    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("slash")
        applied = []  # each re-filter compiles the filter once (a store refresh meanwhile does not)
        import opsdash.ui.app as app_module
        compile_filter = app_module.compile_filter
        monkeypatch.setattr(app_module, "compile_filter", lambda text: (applied.append(text), compile_filter(text))[1])
        line = app.query_one(FilterLine)
        line.value = "web-"  # four keys typed; their messages are all queued when the first is handled
        for i in range(1, 5):
            app._filter_changed(FilterLine.Changed("web-1"[:i]))
        await pilot.pause(0.1)
        assert applied == ["web-"]
        assert {r.ref.target for r in app.pane("health")._rows.values()} == {"web-1", "web-2", "web-3"}


async def test_keyed_diffs_keep_cursor_and_never_clear(store_path: Path, monkeypatch: pytest.MonkeyPatch):
    from opsdash.ui.table import RowTable

    def no_clear(self, *a, **k):
        raise AssertionError("RowTable.clear() called: the cursor would be lost")

    monkeypatch.setattr(RowTable, "clear", no_clear)
    clock = [NOW]
    # Only the app.poll() below loads the store: a timed poll between the test's two writes
    # would be a view of its own (a second swap, rightly).
    app = make_app(store_path, now=lambda: clock[0], poll_interval=3600)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        table = app.pane("health").table
        await pilot.press("end")
        await pilot.press("up")
        selected = app.pane("health").selected()
        assert selected is not None
        calls = {"set_rows": 0}
        for name in calls:
            orig = getattr(table, name)

            def wrap(*a, _orig=orig, _name=name, **k):
                calls[_name] += 1
                return _orig(*a, **k)

            monkeypatch.setattr(table, name, wrap)
        written = app.pane("health").cells_written
        rendered = table.lines_rendered
        # a host goes down (moves to the top), another host disappears, one appears
        with Store(store_path) as store:
            d = store.latest("host", "bastion")[0]["data"]
            store.put_latest("host", "bastion", "", NOW, {**d, "state": "timeout", "health": None, "t": NOW})
            store.put_latest("host", "new-1", "", NOW, {**d, "name": "new-1", "t": NOW})
            store._query("SELECT 1")
        with Store(store_path) as store:
            with store._tx() as db:
                db.execute("DELETE FROM latest WHERE kind='host' AND target='edge-1'")
        app.poll()
        await until(pilot, lambda: "host:new-1" in app.pane("health")._rows, "the new row")
        await pilot.pause(0.05)
        keys = table.row_keys
        assert "host:edge-1" not in keys and "host:new-1" in keys
        assert app.pane("health")._rows["host:bastion"].cells[0][0] == "✖ timeout"
        assert keys.index("host:bastion") < keys.index("host:web-1")
        # the cursor stayed on its row (by key), wherever that row moved
        assert app.pane("health").selected() == app.pane("health")._rows[selected.key]
        assert table.cursor_key == selected.key
        # one list swap per view, no row-by-row bookkeeping
        assert calls["set_rows"] == 1
        # only the cells that changed
        assert 0 < app.pane("health").cells_written - written < 20
        # only the rows whose lines changed are rendered again (not every visible row)
        assert table.lines_rendered - rendered < table.row_count
        # a view with nothing new renders nothing
        rendered = table.lines_rendered
        app.apply_view(app.view)
        await pilot.pause(0.05)
        assert table.lines_rendered == rendered


async def test_filter_by_text_and_tag(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("slash")
        assert app.focused is app.query_one("#filter")
        await pilot.press(*"role=db")
        await pilot.press("enter")
        await pilot.pause(0.05)
        health = app.pane("health")
        assert sorted(r.ref.target for r in health._rows.values()) == ["db-1", "db-2"]
        assert app.focused is health.table
        assert app.query_one("#filter").prompting  # a filter in force stays in view
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert health.table.row_count == 13
        assert not app.query_one("#filter").prompting
        # a hidden filter box never swallows keys
        await pilot.press("2")
        assert app.active_pane == "latency"


async def test_enter_drills_down_with_history_alerts_and_raw(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"db-1", "enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        await until(pilot, lambda: "History" in screen_text(app) and "loading" not in screen_text(app), "history")
        text = screen_text(app)
        assert "host.disk_percent{mount=/var/lib/postgresql}" in text
        assert "▁" in text or "█" in text
        assert "db-1/pg restore test failed" in text  # related alert
        assert "Raw last probe output" in text
        assert re.search(r"read\s+2026-09-21 14:13:15 \(5s ago\)", text)  # local time (UTC here) and age
        assert "1789999995" not in text  # not the epoch
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_keys_for_the_hidden_panes_are_off_on_the_drill_down(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        pane, stack = app.active_pane, list(app.screen_stack)
        await pilot.press("3", "slash", "x", "enter")
        await pilot.pause(0.1)
        assert app.active_pane == pane and list(app.screen_stack) == stack  # no pane switch, no second drill-down
        assert app.filter_text == "" and not app.query_one("#filter").prompting
        shown = {h.description for h in app.screen.query_one(KeyBar).hints()}
        assert {"Back", "Ack", "Silence", "Escalate"} <= shown
        assert not shown & {"Filter", "Detail"}
        await pilot.press("escape")
        await pilot.press("slash")
        assert app.query_one("#filter").prompting  # back on the panes, the keys work again


def _detail_text(store_path: Path, ref: Ref, width: int = 120) -> str:
    """What a DetailScreen shows for ``ref``, as plain text (built as its worker builds it)."""
    with Store(store_path, readonly=True) as s:
        parts = DetailScreen(ref, store_path, lambda: NOW, {}).build(s, NOW)
    console = Console(width=width, file=io.StringIO(), color_system=None, record=True)
    console.print(Group(*parts))
    return console.export_text(styles=False)


# Every kind of drill-down, and what its fields must look like (NOW is 2026-09-21T14:13:20Z; local
# time in the test is UTC+5:30, so a UTC clock would be visibly wrong).
DETAIL_FIELDS = [
    (Ref("host", "db-1"), {
        "read": "2026-09-21 19:43:15 (5s ago)", "health.cpu_percent": "71%", "health.swap_percent": "0%",
        "health.uptime_s": "12d", "health.disks[0].percent": "93%", "health.disks[0].free_bytes": "9.3 GiB",
        "health.load1": "2.9", "health.cpus": "4", "interval": "15s", "probes": "health, patches", "error": "—",
    }),
    (Ref("host", "web-3"), {"state": "unreachable", "health": "—", "error": "connection refused"}),
    (Ref("patches", "db-1"), {
        "patches.reboot_required": "yes", "patches.packages[0].security": "yes", "patches.services_restart": "(none)",
        "patches.reboot_reason": "—", "patches.last_update": "2026-09-18 09:30:00 (3d ago)", "interval": "1h",
    }),
    (Ref("cache", "cache-1", "sessions"), {
        "hit_rate": "97%", "hits": "1000", "window_s": "5m", "ops_per_s": "5300/s", "interval": "15s",
    }),
    (Ref("backup", "db-1", "pg"), {
        "read": "2026-09-21 19:42:20 (60s ago)", "last_backup": "2026-09-21 13:30:00 (6h ago)", "age_s": "5h",
        "size_bytes": "953.7 MiB", "restore_test.ok": "no", "restore_test.at": "2026-09-21 15:30:00 (4h ago)",
        "restore_test.duration_s": "41s", "restore_test.bytes": "976.6 KiB", "restore_test.checksum_verified": "no",
        "restore_test.detail": "checksum mismatch in base/16384/2619", "max_age": "1d2h", "interval": "10m",
    }),
    (Ref("endpoint", "api-login", "local"), {
        "status": "200", "ttfb_ms": "300ms", "p95_ms": "640ms", "error_rate": "1%", "phases": "—",
        "slo.availability": "99.9%", "slo.ttfb_p95_ms": "400ms", "interval": "15s",
    }),
    (Ref("alert", "db-1", "a-db1-disk"), {"since": "2026-09-21 18:53:20 (50m ago)", "value": "93"}),
]


@pytest.mark.parametrize("ref,fields", DETAIL_FIELDS, ids=[r.kind + ":" + r.target for r, _ in DETAIL_FIELDS])
def test_detail_fields_are_formatted_for_people(store_path: Path, monkeypatch: pytest.MonkeyPatch, ref, fields):
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX spelling of UTC+5:30: no tzdata needed
    time.tzset()
    try:
        text = _detail_text(store_path, ref)
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
    for key, shown in fields.items():
        assert re.search(rf"^\s*{re.escape(key)}\s+{re.escape(shown)}\s*$", text, re.M), (key, shown, text)
    assert not re.search(r"\b17\d{8}\b", text), text  # no epoch seconds
    assert not re.search(r"\b(null|true|false|True|False|None)\b", text), text  # no JSON or Python literals
    assert not re.search(r"^\s*t\s", text, re.M)  # the reading's own t is the "read" line
    if ref.kind == "alert":
        assert "2026-09-21 18:53:20" in text.split("Transitions")[1]  # event lists in local time too


def test_detail_long_values_wrap_and_hostile_values_stay_literal(store_path: Path):
    text = _detail_text(store_path, Ref("backup", "evil-1", HOSTILE[3]), width=60)
    assert "\\e]52;c;aGk=\\a" in text and "\x1b" not in text and "\x07" not in text
    with Store(store_path) as s:
        s.put_latest("backup", "db-9", "x", NOW - 5, {"restore_test": {"detail": "word " * 40 + "END"}, "t": NOW - 5})
    text = _detail_text(store_path, Ref("backup", "db-9", "x"), width=60)
    assert "END" in text and "…" not in text  # wrapped in its column, never cut


@pytest.mark.parametrize("key,value,shown", [
    ("t", NOW - 180, "2026-09-21 14:10:20 (3m ago)"), ("ends_at", NOW + 3600, "2026-09-21 15:13:20 (in 60m)"),
    ("x.started_t", NOW - 7200, "2026-09-21 12:13:20 (2h ago)"),
    ("at", "2026-09-21T14:13:00Z", "2026-09-21 14:13:00 (20s ago)"),
    ("age_s", 0.25, "250ms"), ("age_s", 3.21, "3.2s"), ("uptime_s", 90061.0, "1d1h"), ("window_s", 174.99, "2m55s"),
    ("timeout", 10, "10s"), ("ops_per_s", 95.0, "95/s"), ("p99_ms", 12345.0, "12s"), ("dns_ms", 0.021, "0.021ms"),
    ("free_bytes", 1536, "1.5 KiB"), ("bytes", 6, "6 B"), ("hit_rate", 0.9347, "93.5%"),
    ("error_rate", 0.0001, "0.01%"), ("availability", 99.995, "99.995%"), ("cpu_percent", 12.0, "12%"),
    ("ok", True, "yes"), ("ok", False, "no"), ("error", None, "—"), ("reason", "", "—"), ("probes", [], "(none)"),
    ("tags", {"a": 1, "b": True}, "a: 1, b: yes"), ("lat_ms", [1.5, 20.0], "1.5ms, 20ms"),
    ("age_s", "soon", "soon"), ("age_s", float("nan"), "nan"), ("t", 10**30, str(10**30)),
    ("name", "[red]x[/red]", "[red]x[/red]"), ("when", "2026-13-45T99:00:00Z", "2026-13-45T99:00:00Z"),
])
def test_fmt_field(key, value, shown):
    assert fmt_field(key, value, NOW) == shown


def test_fmt_duration():
    seconds = (0, 0.0004, 0.5, 0.9996, 1, 9.94, 9.97, 41, 60, 3600, 3661, 93600, 1036800, -90)
    assert [fmt_duration(s) for s in seconds] == [
        "0ms", "0.4ms", "500ms", "1s", "1s", "9.9s", "10s", "41s", "1m", "1h", "1h1m", "1d2h", "12d", "-1m30s"]


async def test_ack_with_note_writes_the_store(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("6")
        row = app.pane("alerts").selected()
        assert row is not None and row.ref.kind == "alert"
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckDialog), "the ack dialog")
        await pilot.press(*"on it", "enter")
        await until(pilot, lambda: _ack(store_path, row.ref.name) is not None, "the ack")
        ack = _ack(store_path, row.ref.name)
        assert ack.note == "on it"


def _ack(path: Path, alert_id: str):
    with Store(path, readonly=True) as s:
        return s.active_ack(alert_id, NOW)


async def test_ack_from_another_pane_acks_the_worst_alert_of_that_target(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"web-3", "enter", "a")
        await until(pilot, lambda: isinstance(app.screen, AckDialog), "the ack dialog")
        await pilot.press("enter")
        await until(pilot, lambda: _ack(store_path, "a-web3-down") is not None, "the ack")
        assert _acked(store_path) == {"a-db1-disk", "a-web3-down"}  # the fixture's ack, and this one only
        await pilot.press("escape")  # clears the filter
        # db-1 has two open critical alerts: the a key acks the worst open one that is not yet acked
        await pilot.press("1", "slash", *"db-1", "enter", "a")
        await until(pilot, lambda: isinstance(app.screen, AckDialog), "the ack dialog")
        assert "db-1/pg restore test failed" in screen_text(app)
        await pilot.press("escape")  # escape in a dialog cancels without writing
        await until(pilot, lambda: not isinstance(app.screen, AckDialog), "the dialog to close")
        await pilot.pause(0.1)
        assert _acked(store_path) == {"a-db1-disk", "a-web3-down"}
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckDialog), "the ack dialog")
        await pilot.press(*"restore rerun", "enter")
        await until(pilot, lambda: _ack(store_path, "a-restore") is not None, "the ack")
        assert _ack(store_path, "a-restore").note == "restore rerun"
        disk = _ack(store_path, "a-db1-disk")
        assert (disk.who, disk.note) == ("alice", "cleaning WAL archive")  # the other db-1 alert is untouched
        assert _acked(store_path) == {"a-db1-disk", "a-web3-down", "a-restore"}


def _acked(path: Path) -> set[str]:
    with Store(path, readonly=True) as s:
        return {k.alert_id for k in s.acks()}


async def test_silence_with_duration_and_note(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("6")
        row = app.pane("alerts").selected()
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SilenceDialog), "the silence dialog")
        dlg = app.screen
        dlg.query_one("#duration").value = "soon"
        await pilot.press("enter")
        assert "expected a duration" in screen_text(app)
        dlg.query_one("#duration").value = "2h"
        await pilot.press("enter", *"planned maintenance", "enter")
        await until(pilot, lambda: _silences(store_path), "the silence")
        (sil,) = _silences(store_path)
        assert sil.matchers["target"] == row.ref.target and "rule" in sil.matchers
        assert sil.ends_at == NOW + 7200 and sil.note == "planned maintenance"


def _silences(path: Path):
    with Store(path, readonly=True) as s:
        return s.active_silences(NOW)


async def test_escalation_packet_and_record(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("6", "e")
        await until(pilot, lambda: isinstance(app.screen, PacketScreen), "the packet")
        await pilot.pause(0.05)
        assert "Escalation" in screen_text(app)
        await pilot.press("y")
        with Store(store_path, readonly=True) as s:
            await until(pilot, lambda: s.escalations(), "the escalation")


async def test_refresh_pokes_the_collector_and_reloads(store_path: Path):
    col = FakeCollector()
    app = make_app(store_path, collector=col)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert "● collector embedded" in screen_text(app)
        with Store(store_path) as store:
            d = store.latest("host", "web-2")[0]["data"]
            store.put_latest("host", "web-2", "", NOW, {**d, "state": "unreachable", "health": None})
        await pilot.press("r")
        assert col.refreshes == 1
        await until(pilot, lambda: app.pane("health")._rows["host:web-2"].cells[0][0] == "✖ down", "the new state")


async def test_t_cycles_themes_and_remembers_in_config(store_path: Path, tmp_path: Path):
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text('[opsdash]\ntheme = "opsdash-dark"\n\n[[hosts]]\nname = "web-1"\n')
    cfg = load_config(cfg_path)
    app = make_app(store_path, config=cfg, theme=None, save_theme=True)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert app.theme == "opsdash-dark"
        before = app.pane("health").table.get_row("host:web-3")[0].style
        await pilot.press("t")
        assert app.theme == "opsdash-light"
        await until(pilot, lambda: 'theme = "opsdash-light"' in cfg_path.read_text(), "the saved theme")
        assert (tmp_path / "config.toml.bak").exists()
        await pilot.pause(0.05)
        after = app.pane("health").table.get_row("host:web-3")[0].style
        assert before != after  # cells re-rendered with the new theme's colours
        for name in ("high-contrast", "monochrome", "opsdash-dark"):
            await pilot.press("t")
            assert app.theme == name
    assert load_config(cfg_path).settings.theme == "opsdash-dark"


async def test_no_color_picks_monochrome(store_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(store_path, theme=None)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert app.theme == "monochrome"
        assert "✖ down" in screen_text(app)  # severity readable without colour


async def test_help_lists_every_key_and_palette_offers_every_action(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.pause(0.05)
        text = screen_text(app)
        for word in ("Jump to Health", "Jump to Alerts", "Filter", "Detail", "Ack", "Silence", "Escalate", "Refresh",
                     "Theme", "Help", "Quit"):
            assert word in text, word
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for t in ("Jump to Health", "Jump to Latency", "Jump to Cache", "Jump to Patches", "Jump to Backups",
                  "Jump to Alerts", "Filter rows", "Drill down", "Ack alert", "Silence", "Escalation packet",
                  "Refresh now", "Next theme", "Help", "Quit"):
            assert t in titles, t
        footer = screen_text(app).splitlines()[-1]
        for key in ("/ Filter", "a Ack", "s Silence", "e Escalate", "r Refresh", "t Theme", "? Help", "q Quit"):
            assert key in footer, key


async def test_q_quits(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_code == 0


async def test_missing_store_is_shown_not_a_crash(tmp_path: Path):
    app = make_app(tmp_path / "nothing-yet.sqlite")
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert "no store yet" in screen_text(app)
        assert "no hosts yet" in screen_text(app)


HOSTILE_SHOWN = ["[red]x[/red]", "[link=http://e]y[/link]", "\\e]52;c;aGk=\\a", "\\e[2J", "\ufffd"]


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_hostile_text_is_literal_in_every_pane(store_path: Path, size):
    app = make_app(store_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        seen = ""
        for i, pane in enumerate(PANES):
            await pilot.press(str(i + 1))
            await pilot.pause(0.02)
            text = screen_text(app)
            assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
            seen += text
            cells = [c.plain for key in app.pane(pane)._rows for c in app.pane(pane).table.get_row(key)]
            assert any("[red]" in c or "\\e" in c or "[link=" in c or "evil" in c for c in cells), pane
        for s in ("[red]x[/red]", "[link=http://e]y", "\\e]52;", "\\e[2J"):
            assert s in seen, s


async def test_hostile_text_is_literal_in_the_detail_screen(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        for pane, query in (("health", "evil"), ("alerts", "evil"), ("backups", "evil"), ("cache", "evil")):
            await pilot.press(str(PANES.index(pane) + 1), "slash", *query, "enter", "enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen), "detail")
            await until(pilot, lambda: "loading" not in screen_text(app), "loaded")
            text = screen_text(app)
            assert "\x1b" not in text and "\x07" not in text
            for s in HOSTILE_SHOWN:
                assert s in text, (pane, s)
            await pilot.press("escape", "escape")


async def test_worker_errors_do_not_crash(tmp_path: Path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    app = make_app(bad)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert "not a database" in screen_text(app) or "cannot open" in screen_text(app)
        app.poll()
        await ready(pilot)
        assert app.is_running


def test_alert_fixture_sanity():
    assert Alert("x", "r", "t", "warning", "firing", 0.0, None).to_json()["state"] == "firing"


async def test_table_keys_scroll_and_click(store_path: Path):
    """The pane table: pgdn/end/home move the cursor and keep it in view; a click selects and drills down."""
    app = make_app(store_path)
    async with app.run_test(size=(80, 12)) as pilot:
        await ready(pilot)
        table = app.pane("health").table
        assert table.cursor_row == 0 and table.row_count == 13
        await pilot.press("end")
        assert table.cursor_row == 12 and table.scroll_y > 0
        assert table.scroll_y <= 12 < table.scroll_y + table.scrollable_content_region.height - 1
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor_row > 0
        await pilot.press("home")
        await pilot.pause(0.05)
        target = table.row_keys[2]
        await pilot.click(type(table), offset=(5, 3))  # line 0 is the header: line 3 is the third row
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        assert table.cursor_key == target
        assert app.screen.ref == app.pane("health")._rows[target].ref
