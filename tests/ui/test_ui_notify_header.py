"""The TUI header says when notifications wait or fail ("notify: 2 queued, 1 failing"), at
80 and 160 columns, and says nothing of them when none waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsdash.store import NotifyEvent, Store
from tests.support.ui_app import LARGE, SMALL, header, make_app, ready, two_hosts
from tests.support.ui_fixtures import NOW


def _queue(path: Path, n: int, failing: int) -> None:
    with Store(path) as s:
        s.enqueue_notifications([NotifyEvent(f"n{i}", "hook", "firing", "disk", 0.0,
                                             {"event_id": f"n{i}", "target": f"web-{i}"}) for i in range(n)],
                                [], NOW - 10)
        for _ in range(failing):
            row = s.claim_notification("hook", NOW)
            s.notification_failed(row.id, "connection refused", NOW + 3600)


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_header_counts_queued_and_failing_notifications(tmp_path: Path, size) -> None:
    path = two_hosts(tmp_path / "s.sqlite", age=5)
    _queue(path, 3, failing=1)
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        line = header(app)
        want = "notify 2q 1f" if size == SMALL else "notify: 2 queued, 1 failing"
        assert want in line, line
        assert len(line) <= size[0]


async def test_header_is_silent_about_notifications_when_none_waits(tmp_path: Path) -> None:
    path = two_hosts(tmp_path / "s.sqlite", age=5)
    app = make_app(path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        assert "notify" not in header(app)
