"""Keys first (ui/priority.py): a refresh waits for the keyboard to go quiet, within limits."""

from __future__ import annotations

import time
from pathlib import Path

from opsdash.ui.priority import InputFirst
from tests.test_ui_app import _env, make_app, ready, store_path, until  # noqa: F401


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


def _record_applies(app) -> list[float]:
    applied: list[float] = []
    apply = app.apply_view

    def record(view, **k):
        applied.append(time.monotonic())
        return apply(view, **k)

    app.apply_view = record
    return applied


async def test_a_refresh_due_while_keys_are_pressed_waits_until_they_stop(store_path: Path):
    app = make_app(store_path, poll_interval=3600)  # only the polls this test starts
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app._input.quiet, app._input.longest = 0.4, 10.0
        applied = _record_applies(app)
        await pilot.press("down")
        pressed = app._input._last_input  # when the app saw the key
        assert time.monotonic() - pressed < 0.3
        app.poll()
        await until(pilot, lambda: applied, "the refresh")
        assert applied[0] - pressed >= 0.39  # not before the keyboard was quiet


async def test_a_refresh_is_late_by_at_most_the_limit_under_a_stream_of_keys(store_path: Path):
    app = make_app(store_path, poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app._input.quiet, app._input.longest = 0.4, 0.5
        applied = _record_applies(app)
        await pilot.press("down")
        app.poll()
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # a key every 50 ms: never quiet for 0.4 s
            await pilot.press("down" if len(applied) % 2 else "up")
            await pilot.pause(0.05)
        assert applied, "live data froze while keys were held down"


async def test_a_refresh_the_user_asked_for_does_not_wait(store_path: Path):
    app = make_app(store_path, poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app._input.quiet, app._input.longest = 5.0, 10.0
        applied = _record_applies(app)
        pressed = time.monotonic()
        await pilot.press("r")
        await until(pilot, lambda: applied, "the refresh")
        assert applied[0] - pressed < 4.0
