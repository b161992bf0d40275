"""`opsdash` (and `opsdash run`): the TUI.

Embeds a collector when none is writing the store, so `opsdash` alone just
works: whether one writes it is the store's collector lock (collector_lock.py),
never a guess from a heartbeat. While another collector holds the lock the TUI
reads, and tries the lock each second: when that collector stops (or is
killed), this TUI takes over (unless ``--no-collector``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from ._common import config_path, load, store_path


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="the TUI (the default command)")
    add_tui_options(p)
    p.set_defaults(func=run)


def add_tui_options(p: argparse.ArgumentParser) -> None:
    """The TUI's options, on `run` and on the bare `opsdash` (cli.build_parser), which is the
    same TUI. SUPPRESS: one not given after `run` leaves the one given before it alone."""
    p.add_argument("--no-collector", action="store_true", default=argparse.SUPPRESS,
                   help="only read the store; never start an embedded collector")
    p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                   help="a wallboard: refuse acks, silences, escalations and notes; the theme is not saved "
                        "(what `opsdash web` runs in each browser tab)")
    p.add_argument("--theme", metavar="NAME", default=argparse.SUPPRESS, help="theme for this session (not saved)")
    p.add_argument("--no-mouse", action="store_true", default=argparse.SUPPRESS, help="run the TUI with the mouse off")


def embedded_collector(config: object, path: "os.PathLike[str] | str") -> "Callable[[], object | None]":
    """A function that starts an embedded collector on the store at ``path`` and returns it,
    or returns None while another collector holds the store's lock."""
    from ..alerts.engine import engine_for
    from ..collect.collector import CollectorThread
    from ..notify import notifier_for

    def start() -> object | None:
        collector = CollectorThread(config, path, engine_factory=lambda store: engine_for(config, store),
                                    notifier_factory=lambda store: notifier_for(config, store))
        return collector if collector.start() else None

    return start


def run(args: argparse.Namespace) -> int:
    config = load(args)
    factory = None if getattr(args, "no_collector", False) else embedded_collector(config, store_path(args))
    collector = factory() if factory is not None else None
    if collector is not None and collector.error:
        print(f"opsdash: embedded collector: {collector.error}", file=sys.stderr)
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
    from ..collect.alertmanager import AlertmanagerSilences
    from ..ui.app import OpsdashApp

    app = OpsdashApp(
        store_path=store_path(args),
        config=config,
        collector=collector,
        collector_factory=factory,
        theme=getattr(args, "theme", None),
        save_theme=getattr(args, "theme", None) is None and not getattr(args, "read_only", False),
        handle_signals=True,
        no_config=config_path(args) if config.path is None else None,  # load() fell back to this machine
        alertmanager=AlertmanagerSilences(config),  # the TUI never imports collect/: its silences reach Alertmanager through this
        read_only=getattr(args, "read_only", False),
    )
    try:
        app.run(mouse=not getattr(args, "no_mouse", False))
    finally:
        if app.collector is not None:  # ours from the start, or taken over
            app.collector.stop(timeout=2.0)
    return app.return_code or 0
