"""Pilot helpers for the Textual tests: the app on a built store, waits that poll, the screen as text."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from opsdash.store import Store
from opsdash.ui.app import OpsdashApp
from tests.support.ui_fixtures import NOW, build_store

SMALL, LARGE = (80, 24), (160, 48)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return build_store(tmp_path / "store.sqlite", NOW, hostile=True)


def make_app(store_path: Path, **kw) -> OpsdashApp:
    kw.setdefault("now", lambda: NOW)
    kw.setdefault("save_theme", False)
    kw.setdefault("user_themes", store_path.parent / "no-themes")
    kw.setdefault("theme", "opsdash-dark")
    return OpsdashApp(store_path=store_path, **kw)


async def ready(pilot, *, screen: type | None = None) -> None:
    app = pilot.app
    for _ in range(200):
        await pilot.pause(0.02)
        if app.settled:
            if screen is None or isinstance(app.screen, screen):
                await pilot.pause(0.02)
                return
    raise AssertionError(f"not ready: view={app.view is not None} screen={app.screen}")


async def until(pilot, cond, what: str) -> None:
    for _ in range(300):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def screen_text(app: OpsdashApp) -> str:
    """What the terminal shows, as plain text (the same render export_screenshot uses)."""
    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), force_terminal=True, color_system=None, record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def two_hosts(path: Path, *, age: float, state: str = "ok", now: float = NOW) -> Path:
    """Two hosts last polled ``age`` seconds before ``now`` (interval 15 s: stale after 45 s)."""
    with Store(path) as s:
        for name in ("web-1", "web-2"):
            t = now - age
            s.put_latest("host", name, "", t, {"name": name, "tags": {}, "state": state, "error": None,
                                               "health": None, "t": t, "interval": 15})
    return path


def header(app) -> str:
    return screen_text(app).splitlines()[0]
