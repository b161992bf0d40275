"""The SLA screen (l): the prepared week's availability, budget and burn-rate alerts, at
80x24 and 160x48; p switches to 7 days; the pane keys are off while it covers them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opsdash.config import parse_config
from opsdash.ui.sla import SLAScreen
from tests.support.sla_data import NOW, T0, build_store, config_text, hand_figures
from tests.support.ui_app import LARGE, SMALL, make_app, ready, until


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def test_l_shows_the_sla_report(tmp_path: Path, size) -> None:
    path = tmp_path / "store.sqlite"
    build_store(path, T0)
    app = make_app(path, config=parse_config(config_text(T0)), now=lambda: NOW, collector=None)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, SLAScreen) and app.screen.markdown, "the SLA report")
        md = app.screen.markdown
        assert f"{hand_figures(True)['availability']:.3f}%" in md
        assert "slo-burn-fast" in md and "maintenance windows excluded" in md
        assert not app.check_action("ack", ())
        await pilot.press("p")
        await until(pilot, lambda: app.screen.since == 7 * 86400.0 and "| shop | 30d |" not in (app.screen.markdown or ""),
                    "the 7-day report")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SLAScreen), "back to the panes")
