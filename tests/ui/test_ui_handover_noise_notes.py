"""Issue 6 in the TUI: the Noise screen (n), the Handover screen (h, w writes it),
the note editor (N), and stale Health rows that keep their last known state."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from opsdash.report.handover import handover, md, noise_table, to_markdown
from opsdash.store import Store, current_user
from opsdash.ui import data
from opsdash.ui.dialogs import AckDialog
from opsdash.ui.safetext import safe
from opsdash.ui.shift import HandoverScreen, HandoverTable, NoiseScreen, NoteDialog, SavePathDialog, handover_blocks
from tests.support.ui_app import LARGE, SMALL, make_app, ready, screen_text, until
from tests.support.ui_fixtures import HOSTILE, NOW, build_store

SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
FIXTURE_RULES = {"host-down", "disk-full", "ttfb-p95", "cache-hit-rate", "restore-test", "cpu-high", HOSTILE[0]}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """The UI fixture store plus a noisy week: host-down paged 6 more times, ttfb-p95 flapped."""
    path = build_store(tmp_path / "store.sqlite", NOW, hostile=True)
    with Store(path) as s:
        for day in range(1, 7):
            t = NOW - day * 86400
            s.add_transition(t, "a-web3-down", "host-down", "web-3", "pending", "firing", "critical", 0.0, "down 2m")
            s.add_transition(t + 300, "a-web3-down", "host-down", "web-3", "firing", "resolved", "critical", 1.0, "up")
        s.add_transition(NOW - 2 * 86400, "a-api-p95", "ttfb-p95", "api-login", "firing", "flapping", "warning",
                         640.0, "flapping: 6 changes in 10m")
        s.add_transition(NOW - 2 * 86400 + 900, "a-api-p95", "ttfb-p95", "api-login", "flapping", "resolved",
                         "warning", 200.0, "settled")
    return path


def _report_md(path: Path) -> str:
    with Store(path, readonly=True) as s:
        return to_markdown(handover(s, None, since=8 * 3600.0, now=NOW))


def _notes(path: Path):
    with Store(path, readonly=True) as s:
        return s.notes()


# --- Noise -------------------------------------------------------------------------------------


@SIZES
async def test_n_shows_the_noise_table_worst_first(store_path: Path, size):
    with Store(store_path, readonly=True) as s:
        expected = noise_table(s, NOW, days=7)
    assert {r["rule"] for r in expected} == FIXTURE_RULES and expected[0]["rule"] == "host-down"
    app = make_app(store_path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NoiseScreen) and app.screen.rows is not None, "the noise")
        await pilot.pause(0.05)
        table = app.screen.query_one("#noise-table", DataTable)
        rules = [table.get_row_at(i)[0].plain for i in range(table.row_count)]
        assert rules == [r["rule"] for r in expected]  # worst first, as the report orders them
        first = [c.plain for c in table.get_row_at(0)]
        assert first == ["host-down", "7", "1", "1", "0", "0%", "0", "7", "—"]
        ttfb = [c.plain for c in table.get_row("ttfb-p95")]
        assert ttfb[4:6] == ["1", "100%"]  # one flap episode; its only alert flapped
        disk = [c.plain for c in table.get_row("disk-full")]
        assert disk[6:] == ["1", "0", "30m"]  # acked by alice 30 minutes after the page
        text = screen_text(app)
        for rule in FIXTURE_RULES:
            assert rule in text, rule  # every rule readable, the hostile one literally
        assert "Pages" in text and "Flap%" in text and "Ack p50" in text
        assert "\x1b" not in text
        assert max(len(line.rstrip()) for line in text.splitlines()) <= size[0]
        await pilot.press("escape")
        assert not isinstance(app.screen, NoiseScreen)


async def test_noise_on_an_empty_store_says_so(tmp_path: Path):
    path = tmp_path / "empty.sqlite"
    Store(path).close()
    app = make_app(path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NoiseScreen) and app.screen.rows is not None, "the noise")
        await pilot.pause(0.05)
        assert "no alert transitions in the last 7 days" in screen_text(app)


# --- Handover ----------------------------------------------------------------------------------


async def open_handover(pilot) -> None:
    """Press h and wait until the handover screen has its report."""
    app = pilot.app
    await pilot.press("h")
    await until(pilot, lambda: isinstance(app.screen, HandoverScreen) and app.screen.markdown, "the handover")


@SIZES
async def test_h_shows_the_handover_and_w_writes_it(store_path: Path, tmp_path: Path, size):
    app = make_app(store_path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        await open_handover(pilot)
        await pilot.pause(0.05)
        screen = app.screen
        expected = _report_md(store_path)
        assert screen.markdown == expected
        text = screen_text(app)
        assert "# Shift handover" in text and "## Open alerts" in text
        assert "\x1b" not in text and "\x07" not in text
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, SavePathDialog), "the file dialog")
        box = app.screen.query_one("#path", Input)
        assert re.fullmatch(r"\./handover-20260921-1413\.md", box.value), box.value  # NOW, local (UTC) time
        out = tmp_path / "reports" / "shift.md"
        box.value = str(out)
        await pilot.press("enter")
        await until(pilot, out.exists, "the file")
        assert out.read_text(encoding="utf-8") == expected
        await until(pilot, lambda: "handover written to" in screen_text(app), "the toast")  # rendered, no crash
        # an existing file is replaced only after a second Enter
        out.write_text("old")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, SavePathDialog), "the file dialog")
        app.screen.query_one("#path", Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, SavePathDialog) and "exists" in screen_text(app)
        assert out.read_text() == "old"
        await pilot.press("enter")
        await until(pilot, lambda: out.read_text(encoding="utf-8") == expected, "the replaced file")
        await pilot.press("escape")
        assert not isinstance(app.screen, HandoverScreen)


def _open_alert_cells(path: Path) -> list[list[str]]:
    """The cells of the open-alerts table, as the Markdown file has them."""
    md_text = _report_md(path)
    table = md_text.split("## Open alerts")[1].split("\n\n")[1].splitlines()
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in table[2:]]


@pytest.mark.parametrize("size", [(80, 48), (160, 48)], ids=["80", "160"])
async def test_handover_tables_are_columns_not_wrapped_pipes(store_path: Path, size):
    """At 160 columns each open alert is one aligned line; at 80 the leading columns stay aligned and
    the rest of the row follows on one indented line of "header value" pairs. No pipe rows, no cell
    cut or split across lines, nothing wider than the terminal; the Markdown itself is unchanged."""
    rows = _open_alert_cells(store_path)
    assert len(rows) == 6 and all(len(r) == 8 for r in rows)
    app = make_app(store_path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        await open_handover(pilot)
        await pilot.pause(0.05)
        assert app.screen.markdown == _report_md(store_path)  # what w writes: still the pipe table
        lines = screen_text(app).splitlines()
    assert max(len(line.rstrip()) for line in lines) <= size[0]
    assert not [line for line in lines if line.lstrip().startswith("| ")]  # no raw pipe rows
    header = next(i for i, line in enumerate(lines) if re.match(r"\s*severity\s+state\s+target\s+rule", line))
    names = ["severity", "state", "target", "rule", "since", "value", "ack", "silence"]
    k = len(lines[header].split())  # the columns laid out side by side
    assert lines[header].split() == names[:k]
    assert k == 8 if size[0] >= 160 else 4 <= k < 8
    per_row = 1 if k == 8 else 2
    head_x = []
    for n, cells in enumerate(rows):
        line = lines[header + 1 + n * per_row]
        assert all(cell in line for cell in cells[:k]), (cells, line)
        head_x.append([line.index(cell) for cell in cells[:4]])
        if k < 8:
            rest = lines[header + 2 + n * 2]
            assert rest.startswith("     ") and rest.strip(), rest  # indented: part of the row above
            for name, cell in zip(names[k:], cells[k:]):
                assert f"{name} {cell}" in rest, (name, cell, rest)
    assert all(x == head_x[0] for x in head_x)  # the columns line up
    if k < 8:
        assert "ack alice: cleaning WAL archive" in "\n".join(lines)  # a long cell, whole, labelled


async def test_handover_at_80x24_starts_with_readable_rows(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await ready(pilot)
        await open_handover(pilot)
        await pilot.pause(0.05)
        text = screen_text(app)
    assert re.search(r"severity\s+state\s+target\s+rule", text)
    assert re.search(r"CRITICAL\s+firing\s+db-1\s+restore-test", text)
    assert "| CRITICAL |" not in text


def test_handover_blocks_keep_everything_literal():
    """Cells keep the file's text (escapes included); a malformed table stays literal text."""
    text = "\n".join([
        "# T", "", "| a | b |", "| --- | --- |", f"| {md('x|y')} | {md('[red]z[/red]')} |", "",
        "| bad | table |", "| --- | --- |", "| one cell |", "", "- done",
    ])
    blocks = handover_blocks(text)
    assert [type(b).__name__ for b in blocks] == ["Text", "HandoverTable", "Text"]
    table = blocks[1]
    assert isinstance(table, HandoverTable)
    assert [c.plain for c in table.rows[0]] == [r"x\|y", r"\[red\]z\[/red\]"]
    assert "| one cell |" in blocks[2].plain and "- done" in blocks[2].plain
    assert table.columns_that_fit(200) == 2 and table.columns_that_fit(3) == 1
    assert [b.plain for b in handover_blocks("\x1b[2J | x")] == ["\\e[2J | x"]


async def test_handover_write_failure_is_a_toast_not_a_crash(store_path: Path, tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    app = make_app(store_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await ready(pilot)
        await open_handover(pilot)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, SavePathDialog), "the file dialog")
        app.screen.query_one("#path", Input).value = str(blocker / "h.md")
        await pilot.press("enter")
        await until(pilot, lambda: "cannot write" in screen_text(app), "the error toast")
        assert app.is_running and isinstance(app.screen, HandoverScreen)


# --- Notes -------------------------------------------------------------------------------------


@SIZES
async def test_note_dialog_saves_a_note_for_the_selected_target(store_path: Path, size):
    app = make_app(store_path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"db-1", "enter", "N")
        await until(pilot, lambda: isinstance(app.screen, NoteDialog), "the note dialog")
        dlg = app.screen
        assert dlg.query_one("#target", Input).value == "db-1"  # prefilled from the selected row
        assert app.focused is dlg.query_one("#note", Input)
        await pilot.press("enter")  # no text: not saved, the dialog says why
        await pilot.pause(0.05)
        assert isinstance(app.screen, NoteDialog) and "needs some text" in screen_text(app)
        await pilot.press(*"WAL cleanup half done", "enter")
        await until(pilot, lambda: _notes(store_path), "the note")
        (note,) = _notes(store_path)
        assert (note.text, note.target, note.who, note.t) == ("WAL cleanup half done", "db-1", current_user(), NOW)
        assert not isinstance(app.screen, NoteDialog)
        # the note shows in the handover
        await open_handover(pilot)
        assert "on db-1: WAL cleanup half done" in app.screen.markdown


async def test_note_without_target_and_from_the_latency_pane(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("2", "N")  # an endpoint row: its endpoint is the target
        await until(pilot, lambda: isinstance(app.screen, NoteDialog), "the note dialog")
        row = app.pane("latency").selected()
        assert app.screen.query_one("#target", Input).value == row.ref.target
        await pilot.press("escape")  # cancels: nothing saved
        await pilot.pause(0.05)
        assert not _notes(store_path)
        await pilot.press("N")
        await until(pilot, lambda: isinstance(app.screen, NoteDialog), "the note dialog")
        app.screen.query_one("#target", Input).value = ""
        await pilot.press(*"quiet shift", "enter")
        await until(pilot, lambda: _notes(store_path), "the note")
        (note,) = _notes(store_path)
        assert (note.text, note.target) == ("quiet shift", None)


async def test_note_from_the_handover_screen_reloads_it(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=LARGE, notifications=True) as pilot:
        await ready(pilot)
        await open_handover(pilot)
        screen = app.screen
        assert "## Notes for the next shift (0)" in screen.markdown
        await pilot.press("N")
        await until(pilot, lambda: isinstance(app.screen, NoteDialog), "the note dialog")
        await pilot.press(*"[red]literal[/red]", "enter")
        await until(pilot, lambda: "## Notes for the next shift (1)" in (screen.markdown or ""), "the reload")
        # The notes are the report's last section: scroll there, as a reader would.
        screen.query_one("#handover-body").scroll_end(animate=False)
        await pilot.pause(0.05)
        assert r"\[red\]literal\[/red\]" in screen_text(app)  # escaped by the report, shown literally


async def test_palette_and_help_offer_the_new_keys(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for t in ("Noise", "Shift handover", "Note for the next shift"):
            assert t in titles, t
        footer = screen_text(app).splitlines()[-1]
        assert "q Quit" in footer and "noise" not in footer  # 80 columns: the shift group does not fit
        await pilot.resize_terminal(*LARGE)
        await pilot.pause(0.1)
        assert "n h N noise handover note" in screen_text(app).splitlines()[-1]
        await pilot.press("question_mark")  # at 80x24 the help scrolls; at 160x48 it is all on screen
        await pilot.pause(0.1)
        text = screen_text(app)
        for s in ("Noise", "Handover", "Note for the next shift", "write it to a file", "◌ down"):
            assert s in text, s
        assert re.search(r"\bN\s+Note for the next shift", text) and re.search(r"\bn\s+Noise", text)


# --- Stale rows keep their last known state ---------------------------------------------------------


def _snapshot(path: Path, now: float) -> data.Snapshot:
    with Store(path, readonly=True) as s:
        return data.load_snapshot(s, now, data.SparkCache())


def test_stale_health_rows_keep_the_last_known_state_and_its_order(tmp_path: Path):
    path = build_store(tmp_path / "s.sqlite", NOW)
    view = data.build_view(_snapshot(path, NOW + 3600))  # every reading is an hour old
    health = view.rows["health"]
    first = {r.ref.target: r.cells[0] for r in health}
    assert first["web-3"] == ("◌ down", "stale")
    assert first["cache-2"] == ("◌ auth", "stale")
    assert first["db-1"] == ("◌ warn", "stale")  # disk 93%: the built-in disk rule's warning (85/95)
    assert first["mon-1"] == ("◌ up", "stale")  # disk 82%: under it
    assert first["web-1"] == ("◌ up", "stale")
    assert all(lvl == "stale" for r in health for _, lvl in r.cells)
    order = [r.ref.target for r in health]
    # by last known severity: the two that were critical (down), then the warnings, then the rest
    assert set(order[:2]) == {"cache-2", "web-3"}
    assert set(order[2:4]) == {"batch-1", "db-1"}
    assert data.compile_filter("state=down")(next(r for r in health if r.ref.target == "web-3"))
    assert data.compile_filter("stale")(health[0])


async def test_a_stale_down_host_stays_down_and_on_top(tmp_path: Path):
    path = build_store(tmp_path / "s.sqlite", NOW)
    with Store(path) as s:
        d = s.latest("host", "web-3")[0]["data"]
        s.put_latest("host", "web-3", "", NOW - 600, {**d, "t": NOW - 600})  # down, and no poll for 10 minutes
    app = make_app(path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await ready(pilot)
        pane = app.pane("health")
        keys = pane.table.row_keys
        assert keys[0] == "host:web-3"
        cell = pane.table.get_row("host:web-3")[0]
        assert cell.plain.strip() == "◌ down" and cell.style == app._styles["stale"]
        old = pane.table.get_row("host:old-1")[0]
        assert old.plain.strip() == "◌ up"
        text = screen_text(app)
        assert "◌ down" in text and "◌ stale" not in text


# --- Toasts ------------------------------------------------------------------------------------


async def test_toasts_with_remote_text_render_literally_and_do_not_crash(store_path: Path):
    """run_test() hides toasts by default; a real terminal renders them. Textual 8 cannot render a Rich
    Text toast (AttributeError: 'Text' object has no attribute 'translate'): the app must convert it."""
    app = make_app(store_path)
    async with app.run_test(size=LARGE, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("6", "slash", *"evil", "enter", "a")
        await until(pilot, lambda: isinstance(app.screen, AckDialog), "the ack dialog")
        await pilot.press("enter")
        await until(pilot, lambda: "acked a-evil" in screen_text(app), "the toast")
        app.notify(safe("[red]x[/red] \x1b[2J", "bold"))
        await until(pilot, lambda: "[red]x[/red]" in screen_text(app), "the literal toast")
        assert app.is_running
