"""`opsdash` (and `opsdash run`): the TUI.

Embeds a collector when none is writing the store (``opsdash collect`` in
another process, seen through its heartbeat), so `opsdash` alone just works.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ._common import load, open_store, store_path


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="the TUI (the default command)")
    add_tui_options(p)
    p.set_defaults(func=run)


def add_tui_options(p: argparse.ArgumentParser) -> None:
    """The TUI's options, on `run` and on the bare `opsdash` (cli.build_parser), which is the
    same TUI. SUPPRESS: one not given after `run` leaves the one given before it alone."""
    p.add_argument("--no-collector", action="store_true", default=argparse.SUPPRESS,
                   help="only read the store; never start an embedded collector")
    p.add_argument("--theme", metavar="NAME", default=argparse.SUPPRESS, help="theme for this session (not saved)")
    p.add_argument("--no-mouse", action="store_true", default=argparse.SUPPRESS, help="run the TUI with the mouse off")


def _collector_running(args: argparse.Namespace) -> bool:
    path = store_path(args)
    if not path.exists():
        return False
    try:
        with open_store(args, readonly=True) as store:
            return store.collector_running(time.time())
    except Exception:  # noqa: BLE001 - an unreadable store: the embedded collector will say why
        return False


def _embedded_collector(config: object, args: argparse.Namespace) -> object | None:
    from ..alerts.engine import engine_for
    from ..collect.collector import CollectorThread

    collector = CollectorThread(config, store_path(args), engine_factory=lambda store: engine_for(config, store))
    collector.start()
    if getattr(collector, "error", None):
        print(f"opsdash: embedded collector: {collector.error}", file=sys.stderr)
    return collector


def run(args: argparse.Namespace) -> int:
    config = load(args)
    collector = None
    if not getattr(args, "no_collector", False) and not _collector_running(args):
        collector = _embedded_collector(config, args)
    # A lone Esc (close a dialog, clear the filter) waits ESCDELAY to be told from an
    # escape sequence; Textual's 100 ms default is felt on every Esc. 50 ms is what
    # neovim's ttimeoutlen uses; a terminal writes a sequence in one burst, so it is
    # not split even over a slow SSH link. The user's own ESCDELAY still wins. (The
    # app's input driver, ui/driver.py, is what makes a wait under 100 ms real.)
    os.environ.setdefault("ESCDELAY", "50")
    # The terminal's own size, always: Rich takes COLUMNS/LINES from the environment over the
    # terminal's, so a stale export (pytest exports 80x24) drew a 160x48 terminal at 80x24
    # and never followed a resize.
    if sys.stdout.isatty():
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
    from ..ui.app import OpsdashApp

    app = OpsdashApp(
        store_path=store_path(args),
        config=config,
        collector=collector,
        theme=getattr(args, "theme", None),
        save_theme=getattr(args, "theme", None) is None,
        handle_signals=True,
    )
    try:
        app.run(mouse=not getattr(args, "no_mouse", False))
    finally:
        if collector is not None:
            collector.stop(timeout=2.0)  # type: ignore[attr-defined]
    return app.return_code or 0
