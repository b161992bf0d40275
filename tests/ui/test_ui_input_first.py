"""Keys first (ui/priority.py): a refresh waits for the keyboard to go quiet, within limits."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from pathlib import Path

from opsdash.ui.priority import InputFirst
from tests.support.ui_app import _env, make_app, ready, store_path, until  # noqa: F401


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_work_waits_for_quiet_but_never_longer_than_the_limit():
    clock = Clock()
    first = InputFirst(quiet=0.15, longest=0.75, clock=clock)
    assert first.wait(since=clock.t) == 0  # nobody typing: go
    first.touched()
    assert round(first.wait(since=clock.t), 6) == 0.15
    clock.t += 0.1
    assert round(first.wait(since=100.0), 6) == 0.05
    for _ in range(10):  # a key every 0.1 s: quiet never comes...
        first.touched()
        clock.t += 0.1
    assert first.wait(since=100.0) == 0  # ...but work due at 100.0 is 0.75 s late at most
    slept = []

    def sleep(s: float) -> None:
        slept.append(round(s, 6))
        clock.t += s

    first.touched()
    first.pause(since=clock.t, sleep=sleep)
    assert slept == [0.15] and first.wait(since=clock.t - 0.15) == 0


@asynccontextmanager
async def keys_and_refreshes(store_path: Path, quiet: float, longest: float):
    """The app with only the polls a test starts (no timer), its InputFirst set to
    ``quiet``/``longest``, and the monotonic times at which views were applied."""
    app = make_app(store_path, poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app._input.quiet, app._input.longest = quiet, longest
        applied: list[float] = []
        apply = app.apply_view

        def record(view, **k):
            applied.append(time.monotonic())
            return apply(view, **k)

        app.apply_view = record
        yield app, pilot, applied


async def test_a_refresh_due_while_keys_are_pressed_waits_until_they_stop(store_path: Path):
    async with keys_and_refreshes(store_path, quiet=1.0, longest=10.0) as (app, pilot, applied):
        await pilot.press("down")
        pressed = app._input._last_input  # when the app saw the key
        assert time.monotonic() - pressed < 0.8  # so the wait below is not over already
        app.poll()
        await until(pilot, lambda: applied, "the refresh")
        assert applied[0] - pressed >= 0.99  # not before the keyboard was quiet


async def test_a_refresh_is_late_by_at_most_the_limit_under_a_stream_of_keys(store_path: Path):
    async with keys_and_refreshes(store_path, quiet=0.4, longest=0.5) as (app, pilot, applied):
        await pilot.press("down")
        app.poll()
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # a key every 50 ms: never quiet for 0.4 s
            await pilot.press("down" if len(applied) % 2 else "up")
            await pilot.pause(0.05)
        assert applied, "live data froze while keys were held down"


async def test_a_refresh_the_user_asked_for_does_not_wait(store_path: Path):
    async with keys_and_refreshes(store_path, quiet=5.0, longest=10.0) as (app, pilot, applied):
        pressed = time.monotonic()
        await pilot.press("r")
        await until(pilot, lambda: applied, "the refresh")
        assert applied[0] - pressed < 4.0


def test_the_ui_paints_up_to_120_frames_a_second_unless_the_user_says_otherwise():
    import os
    import subprocess
    import sys

    probe = "import opsdash.ui.app, textual.constants as c; print(c.MAX_FPS)"
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "120"
    out = subprocess.run([sys.executable, "-c", probe], env={**env, "TEXTUAL_FPS": "30"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "30"


def test_full_collections_wait_for_a_quiet_keyboard_but_not_forever():
    from opsdash.ui.priority import QuietGC

    clock = Clock()
    keys = InputFirst(clock=clock)
    runs: list[float] = []
    quiet_gc = QuietGC(keys, every=15.0, longest=120.0, quiet=2.0, collect=lambda: runs.append(clock.t) or 0)
    clock.t += 10
    assert not quiet_gc.tick() and runs == []  # not due yet
    clock.t += 6
    assert quiet_gc.tick() and runs == [116.0]  # due, nobody typing
    for _ in range(100):  # then a key every second for 100 s: never 2 s quiet
        clock.t += 1
        keys.touched()
        quiet_gc.tick()
    assert runs == [116.0]
    clock.t += 1  # a second after the last key: not yet
    assert not quiet_gc.tick()
    clock.t += 1.5
    assert quiet_gc.tick() and runs[-1] == clock.t
    for _ in range(130):  # keys every second for 130 s: the 120 s limit still runs one
        clock.t += 1
        keys.touched()
        quiet_gc.tick()
    assert len(runs) == 3 and runs[2] - runs[1] == 120


def test_deferred_full_collections_are_off_while_held_and_back_after():
    import gc

    from opsdash import gcpolicy

    before = gc.get_threshold()
    with gcpolicy.held():
        gcpolicy.defer_full()
        assert gc.get_threshold()[2] == gcpolicy.DEFERRED
    assert gc.get_threshold() == before
    gcpolicy.defer_full()  # not held: nothing to defer
    assert gc.get_threshold() == before


async def test_the_tui_runs_its_own_full_collections(store_path: Path):
    import gc

    from opsdash import gcpolicy

    before = gc.get_threshold()
    app = make_app(store_path, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert gc.get_threshold()[2] == gcpolicy.DEFERRED
        runs = []
        app._quiet_gc.collect = lambda: runs.append(1) or 0
        app._quiet_gc.every, app._quiet_gc.quiet = 0.0, 0.0
        await until(pilot, lambda: runs, "a full collection from the poll timer")
    assert gc.get_threshold() == before


async def test_the_pane_being_looked_at_is_updated_first_then_the_others_one_a_frame(store_path: Path):
    app = make_app(store_path, poll_interval=3600)  # no timed poll starts another view meanwhile
    async with app.run_test(size=(160, 48)) as pilot:  # all six panes on screen
        await ready(pilot)
        await pilot.press("3")  # Cache has the focus
        app.filter_text = "zzz-nothing"  # what a filter key does: apply_view, synchronously
        assert app.pane("cache").shown == 0  # the focused pane: now
        assert app.pane("health").shown == app.pane("health").total > 0  # the rest: not yet
        applied_at: dict[str, float] = {"cache": time.monotonic()}

        def stamped(pane):  # the pane stamps when it takes the view: a polling loop that ran
            apply = pane.apply  # late on a loaded machine would see two panes change at once

            def apply_and_stamp(*args, **kwargs):
                applied_at.setdefault(pane.pane_id, time.monotonic())
                return apply(*args, **kwargs)
            return apply_and_stamp

        for p in app.panes:
            if p.pane_id != "cache":
                p.apply = stamped(p)
        await until(pilot, lambda: len(applied_at) == len(app.panes) and app.settled, "every pane current")
        assert all(p.shown == 0 for p in app.panes)
        times = sorted(applied_at.values())
        assert all(b - a >= 0.005 for a, b in zip(times[1:], times[2:]))  # one a frame, not in a burst
