"""The wallboard's TUI (`opsdash run --read-only`, what each `opsdash web` tab runs): every
write a person can ask for is refused on screen, by key and by the command palette alike,
and the store stays as it was. Textual's pilot over a built store; no browser here."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from opsdash.ui.app import OpsdashApp
from opsdash.ui.shift import HandoverScreen
from tests.support.ui_app import LARGE, _env, make_app, ready, store_path, until  # noqa: F401

REFUSED = "read-only wallboard"


def dump(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return list(db.iterdump())


def refusals(app: OpsdashApp) -> list[str]:
    return [str(n.message) for n in app._notifications if REFUSED in str(n.message)]


@pytest.mark.parametrize("pane,key,what", [
    ("6", "a", "ack"),
    ("6", "s", "silence"),
    ("6", "u", "unsilence"),
    ("6", "e", "escalate"),
    ("1", "N", "a note for the next shift"),
])
async def test_a_read_only_wallboard_refuses_each_write_key_and_the_store_is_unchanged(
        store_path: Path, pane: str, key: str, what: str) -> None:
    before = dump(store_path)
    app = make_app(store_path, read_only=True)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press(pane)
        screen = app.screen
        await pilot.press(key)
        await until(pilot, lambda: refusals(app), f"the refusal of {what}")
        assert app.screen is screen, "a dialog opened on a read-only wallboard"
        assert refusals(app) == [f"{REFUSED}: {what} is off here (opsdash web --allow-actions, or the TUI in a terminal)"]
    assert dump(store_path) == before


async def test_the_palette_and_the_handover_file_are_refused_too(store_path: Path) -> None:
    before = dump(store_path)
    app = make_app(store_path, read_only=True)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("6")
        # The command palette's entries for the writes (what choosing one runs) are refused too.
        writes = ("Ack alert", "Silence", "Unsilence", "Escalation packet", "Note for the next shift")
        commands = {c.title: c.callback for c in app.get_system_commands(app.screen)}
        for title in writes:
            n = len(refusals(app))
            commands[title]()
            await until(pilot, lambda: len(refusals(app)) > n, f"the refusal of {title!r} from the palette")
            assert not app.screen.is_modal, f"{title!r} opened a dialog"
        # The handover is shown, but not written to a file on the wallboard's machine.
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen) and app.screen.markdown, "the handover")
        n = len(refusals(app))
        await pilot.press("w")
        await until(pilot, lambda: len(refusals(app)) > n, "the refusal of the handover file")
        assert isinstance(app.screen, HandoverScreen)
    assert dump(store_path) == before


async def test_without_read_only_the_ack_dialog_opens(store_path: Path) -> None:
    from opsdash.ui.dialogs import AckDialog

    app = make_app(store_path)  # what --allow-actions runs
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("6", "a")
        await until(pilot, lambda: isinstance(app.screen, AckDialog), "the ack dialog")
        assert not refusals(app)


async def test_a_read_only_wallboard_says_so_in_its_header_and_leaves_the_writes_out_of_its_key_bar(
        store_path: Path) -> None:
    from opsdash.ui.app import FleetHeader

    for read_only in (True, False):
        app = make_app(store_path, read_only=read_only)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            await pilot.press("6")
            header = str(app.query_one(FleetHeader).render())
            shown = {b.action for _, b, enabled, _ in app.screen.active_bindings.values() if b.show}
            assert ("read-only" in header) is read_only, header
            assert "up" in header and "collector" in header, header  # still the fleet's line at 80 columns
            assert ("ack" in shown and "silence" in shown) is not read_only, shown
