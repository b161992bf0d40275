"""The opsdash TUI: a fleet header, six live panes, a footer with the keys.

Data flow (one mechanism): a 1 s timer starts a thread worker that reads the
store (read-only; a collector, embedded or ``opsdash collect``, writes it),
builds the view-model (``data.build_view``) and posts ``ViewReady``. The
handler applies keyed diffs to every pane inside ``batch_update()``. At most
one read is in flight and a newer view replaces an unapplied older one, so a
busy fleet costs one redraw per poll, not one per host.

Layout: at >= 160x48 (or >= 140x40) all six panes show at once in a grid;
smaller, a tab bar shows one pane at a time. The same six widgets serve both
layouts (CSS classes only), so cursors and scroll positions survive a resize.
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.content import Content
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.message import Message
from textual.reactive import Reactive, var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Tab, Tabs

from .. import gcpolicy
from ..alerts.mirror import NO_MIRROR, AlertmanagerMirror
from ..alerts.rules import rules_from_config
from ..alerts.severity import Severity
from ..config import Config, set_theme, update_config, user_themes_dir
from ..errors import OpsdashError
from ..store import Store
from . import actions
from .alerts import AlertsPane
from .backups import BackupsPane
from .cache import CachePane
from .data import (PANE_TITLES, PANES, Row, SparkCache, Summary, View, build_view, compile_filter, fmt_age,
                   header_counts, load_snapshot, notify_cell)
from .detail import DetailScreen
from .dialogs import AckDialog, PacketScreen, SilenceDialog, SilenceRequest, UnsilenceDialog
from .filterline import FilterLine
from .health import HealthPane
from .help import HelpScreen
from .latency import LatencyPane
from .pane import Pane, Prepared
from .patches import PatchesPane
from .priority import InputFirst, QuietGC
from .safetext import join, safe
from .shift import HandoverScreen, NoiseScreen, NoteDialog, NoteRequest
from .sla import SLAScreen
from .incidents import IncidentsScreen
from .styles import level_styles
from .table import RowTable
from .themes import DEFAULT_THEME, NO_COLOR_THEME, for_color_system, load_themes, theme_cycle

WIDE = ((160, 48), (140, 40))
NOTICE_TIMEOUT = 24 * 3600.0  # "until dismissed": Textual's toasts need a timeout
FRAME = 0.008  # s between the panes of one update (ui refresh rate: TEXTUAL_FPS 120)
SWITCH_INTERVAL = 0.001  # s a thread holds the GIL while another waits (CPython's default: 0.005)
SHIFT_KEYS = Binding.Group("noise handover note")
PANE_ACTIONS = frozenset({"pane", "filter", "clear_filter", "drill", "ack", "silence", "unsilence", "escalate"})
# Keys that change what the panes show: off whenever another screen covers them (a drill-down,
# help), or they would move an invisible cursor or open a filter bar nobody sees.
VIEW_ACTIONS = frozenset({"pane", "next_pane", "filter", "clear_filter", "drill"})
# What a read-only wallboard leaves out of its key bar; their keys still get refused()'s one line.
WRITE_ACTIONS = frozenset({"ack", "silence", "unsilence", "escalate", "note"})


def tilde(path: Path | str) -> str:
    """A path as people write it: ~/.config/opsdash/config.toml (short enough for a toast)."""
    home = os.path.expanduser("~")
    text = str(path)
    return "~" + text[len(home):] if home not in ("", "/") and (text == home or text.startswith(home + os.sep)) else text


def is_wide(width: int, height: int) -> bool:
    return any(width >= w and height >= h for w, h in WIDE)


class FleetHeader(Widget):
    """One line: hosts up/total, alerts by severity, collector state, last poll age, clock.

    Rendered from the last summary at the widget's current width (so a resize re-fits it)."""

    def __init__(self, read_only: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.read_only = read_only  # a wallboard says so next to the title, at every width
        self._state: tuple[Summary, float, dict[str, Any], str, str | None] | None = None

    def show(self, s: Summary, now: float, styles: dict[str, Any], collector: str, error: str | None) -> None:
        self._state = (s, now, styles, collector, error)
        self.refresh()

    def render(self) -> Text:
        if self._state is None:
            return Text(" opsdash", style="bold")
        s, now, styles, collector, error = self._state
        clock = Text(time.strftime("%H:%M:%S", time.localtime(now)) + " ", style="bold")
        width = self.size.width or 80
        for brief in (0, 1, 2):  # the title goes first, then the words of the counts
            left = self._left(s, styles, collector, error, brief=brief)
            if left.cell_len + clock.cell_len + 1 <= width:
                break
        left.truncate(max(0, width - clock.cell_len - 1), overflow="ellipsis")
        return join(left, " " * max(1, width - left.cell_len - clock.cell_len), clock)

    def _left(self, s: Summary, styles: dict[str, Any], collector: str, error: str | None, brief: int) -> Text:
        sep = (" │ ", styles["muted"])
        parts: list[Any] = [] if brief else [(" opsdash", "bold"), sep]
        if brief:
            parts.append(" ")
        if self.read_only:
            parts += [Text("read-only", style=styles["warn"]), sep]
        if not s.hosts_total and error:
            parts += [Text(f"{'✖' if collector in ('none', 'stopped') else '●'} collector {collector}",
                           style=styles["warn"]), sep, safe(error, styles["crit"])]
            return join(*parts)
        for i, group in enumerate(header_counts(s, brief=brief >= 2)):  # hosts, then alerts: ui/data.py
            parts += [sep] if i else []
            parts += [Text(text, style=styles[level]) for text, level in group]
        parts.append(sep)
        note = notify_cell(s, brief=brief >= 2)  # notifications waiting or failing (opsdash/notify)
        if note is not None:
            parts += [Text(note[0], style=styles[note[1]]), sep]
        col_style = {"embedded": "ok", "live": "ok", "stopped": "crit", "none": "warn"}.get(collector, "warn")
        col_text = {"embedded": "● collector embedded", "live": "● collector live", "stopped": "✖ collector stopped",
                    "none": "✖ no collector"}.get(collector, collector)
        parts.append(Text(col_text, style=styles[col_style]))
        parts.append(sep)
        if error:
            parts.append(safe(error, styles["crit"], limit=60))
        else:
            age = s.last_poll_age
            stale = age is None or age > 60
            parts.append(Text(f"poll {fmt_age(age)}" if age is not None else "no polls yet",
                              style=styles["warn" if stale else "muted"]))
        return join(*parts)


class ViewReady(Message):
    """A new view-model is waiting in ``app.pending_view`` (newer replaces older).
    ``since``: when its poll became due (monotonic), or -1 for a poll the user asked for."""

    def __init__(self, since: float = -1.0) -> None:
        super().__init__()
        self.since = since


class DashboardScreen(Screen[None]):
    """The app's main screen. Textual's ``Screen.focused`` is a reactive that repaints the
    whole screen on every focus change: at 160x48 that is every line of six panes for a pane
    switch, ``/``, Enter or Esc in the filter. The widgets that gain and lose focus repaint
    themselves (their :focus styles change), so nothing else needs it."""

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    # Tab walks the panes in both layouts. Textual's own Tab moves focus among the visible
    # widgets, and with tabs (80x24) the one pane shown is the only one: Tab did nothing.
    BINDINGS = [
        Binding("tab", "app.next_pane(1)", "Next pane", show=False),
        Binding("shift+tab", "app.next_pane(-1)", "Previous pane", show=False),
    ]


class OpsdashApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "opsdash"
    ENABLE_COMMAND_PALETTE = True
    AUTO_FOCUS = None  # focus is placed on the active pane's table, never the hidden filter box

    BINDINGS: ClassVar[list[Binding]] = [
        *[Binding(str(i + 1), f"pane('{p}')", f"Jump to {PANE_TITLES[p]}", show=False) for i, p in enumerate(PANES)],
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("enter", "drill", "Detail", key_display="⏎"),
        Binding("a", "ack", "Ack"),
        Binding("s", "silence", "Silence"),
        Binding("e", "escalate", "Escalate"),
        Binding("r", "refresh", "Refresh"),
        Binding("t", "next_theme", "Theme"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("u", "unsilence", "Unsilence"),  # after q: the key bar shows it where it fits (not at 80 columns)
        # The shift keys: one footer group ("n h N noise handover note"), shown when it fits
        # (the KeyBar drops it at 80 columns). Help (?) and Ctrl+P always list them.
        Binding("n", "noise", "Noise", group=SHIFT_KEYS),
        Binding("h", "handover", "Handover", group=SHIFT_KEYS),
        Binding("N", "note", "Note for the next shift", key_display="N", group=SHIFT_KEYS),
        Binding("i", "incidents", "Incidents"),
        Binding("l", "sla", "SLA"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    # var, not reactive: a reactive on the App repaints the whole screen when it changes (every
    # key typed into the filter, every pane switch); the watchers refresh what actually changed.
    active_pane: var[str] = var("health")
    filter_text: var[str] = var("")

    def __init__(
        self,
        *,
        store_path: str | os.PathLike[str],
        config: Config | None = None,
        now: Callable[[], float] | None = None,
        collector: Any = None,
        collector_factory: Callable[[], Any] | None = None,
        poll_interval: float = 1.0,
        theme: str | None = None,
        user_themes: Path | None = None,
        save_theme: bool = True,
        handle_signals: bool = False,
        no_config: Path | None = None,
        alertmanager: AlertmanagerMirror = NO_MIRROR,
        read_only: bool = False,
    ) -> None:
        no_color = "NO_COLOR" in os.environ  # Textual pops it in App.__init__
        super().__init__()
        self.store_path = Path(store_path)
        self.config = config
        self.alertmanager = alertmanager  # silences made here reach Alertmanager through it (alerts/mirror.py)
        # A wallboard (`opsdash web` without --allow-actions): the queue is shown, nothing is written.
        self.read_only = read_only
        self.now: Callable[[], float] = now or time.time
        self.collector = collector
        # Takeover: with no collector of its own, the app tries this each poll; it starts an
        # embedded collector if the store's collector lock is free (the one that wrote the
        # store stopped) and returns None while another collector holds it.
        self.collector_factory = collector_factory
        self.took_over = False
        self._taking_over = False
        self.poll_interval = poll_interval
        self.save_theme = save_theme
        self.handle_signals = handle_signals
        # The first run: no config file at ``no_config``. Said on screen, until Esc or a click
        # (on stderr it was read only after the TUI had quit).
        self.notice = (f"No config at {tilde(no_config)}: watching this machine only. To watch your "
                       f"fleet, quit (q) and run `opsdash init`. Esc hides this.") if no_config is not None else None
        self.view: View | None = None
        self.pending_view: View | None = None
        self._loading = False
        self._input = InputFirst()
        self._quiet_gc = QuietGC(self._input)
        self._gc_held = False
        self._switch_interval: float | None = None
        self._first_painted = threading.Event()  # the first view is on screen
        self._urgent = False  # the next poll was asked for (r, an ack): it does not wait for quiet
        self._apply_timer: Any = None
        self._catch_up_timer: Any = None
        self._last_error: str | None = None
        self._reader: Store | None = None
        self._sparks = SparkCache()
        self._behind: dict[str, bool] = {}  # panes not showing the current view yet -> force
        # Each pane's rows made ready by the worker (pane.Prepared) for self.view, and the next
        # view's; what a refresh replaces goes to the graveyard, freed by the worker (pane.py).
        self._prepared: dict[str, Prepared] = {}
        self._pending_prepared: tuple[View, dict[str, Prepared]] | None = None
        self._graveyard: list[Any] = []
        self._pane_by_id: dict[str, Pane] = {}
        self._match = compile_filter("")
        self._styles: dict[str, Any] = {}
        self._endpoint_tags = {e.name: dict(e.tags) for e in config.endpoints} if config else {}
        self._rule_for = {r.name: r.for_s for r in rules_from_config(config)} if config else {}
        self._windows = config.maintenance if config else ()  # the header's "maint: ..." (ui/data.py)
        self._severity = Severity.for_config(config)  # the rules in force colour the panes (alerts/severity.py)
        themes, self.theme_problems = load_themes(user_themes if user_themes is not None else user_themes_dir())
        for t in themes.values():  # on a 16/256-colour terminal, red must stay red (themes.py)
            self.register_theme(for_color_system(t, self.console.color_system))
        self.theme_names = theme_cycle(themes)
        wanted = NO_COLOR_THEME if no_color else (theme or (config.settings.theme if config else DEFAULT_THEME))
        if wanted not in themes:
            self.theme_problems.append(f"theme {wanted!r} not found; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME if DEFAULT_THEME in themes else "textual-dark"
        self.theme = wanted

    # --- layout -------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen(id="_default")

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        # Swap only the stock Linux driver (a TEXTUAL_DRIVER from the environment wins),
        # and import ours only then: it needs termios, which Windows lacks.
        if (driver.__module__, driver.__name__) == ("textual.drivers.linux_driver", "LinuxDriver"):
            from .driver import PromptEscDriver

            return PromptEscDriver
        return driver

    def compose(self) -> ComposeResult:
        yield FleetHeader(read_only=self.read_only, id="fleet")
        tabs = Tabs(*[Tab(f"{i + 1} {PANE_TITLES[p]}", id=f"tab-{p}") for i, p in enumerate(PANES)], id="tabs")
        tabs.can_focus = False
        yield tabs
        with Container(id="panes"):
            yield HealthPane()
            yield LatencyPane()
            yield CachePane()
            yield PatchesPane()
            yield BackupsPane()
            yield AlertsPane()
        # Key hints, and the filter prompt while filtering (as less's and htop's): the fleet
        # header stays in view and the tables keep their size, so filtering moves nothing.
        yield FilterLine(id="filter")

    @property
    def panes(self) -> list[Pane]:
        return list(self.query(Pane))

    def pane(self, pane_id: str) -> Pane:
        return self.query_one(f"#{pane_id}", Pane)

    def on_mount(self) -> None:
        self._pane_by_id = {p.pane_id: p for p in self.query(Pane)}
        for p in self._pane_by_id.values():
            p.bury = self._bury
        self._styles = level_styles(self.theme_variables)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._layout(self.size.width, self.size.height)
        self.watch_active_pane(self.active_pane)
        self.pane(self.active_pane).table.focus()
        for problem in self.theme_problems:
            self.notify(Text(problem), severity="warning", timeout=8)
        if self.notice:
            self.notify(Text(self.notice), title="No config file", severity="warning", timeout=NOTICE_TIMEOUT)
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            handlers = ((signal.SIGTERM, self.exit), (signal.SIGHUP, self._hang_up))
            for sig, handler in handlers:
                try:
                    loop.add_signal_handler(sig, handler)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        # The UI thread takes the GIL back from the poll's worker within 1 ms, not CPython's 5:
        # a key crosses three threads (input, UI, writer), each waiting its turn while the worker
        # builds a view (some 100 ms a second at 1000 hosts), and those waits were a key's tail.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.set_interval(self.poll_interval, self.poll)
        self.poll(urgent=True)  # the first view; the GC is settled once it is on screen (_hold_gc)

    def _first_paint_done(self) -> None:
        self._first_painted.set()  # the worker reads the sparklines' history now (_load_view)
        self._hold_gc()

    def _hold_gc(self) -> None:
        """Everything built so far (modules, widgets, styles) lives as long as the app: out of the
        cyclic GC's reach, and full collections rarer. Otherwise the view churn (thousands of rows
        a second) made a full collection due every 2-3 s, each a 100+ ms stall of the UI. Done once
        the first view is on screen: its full pass (some 100 ms) used to come before the first poll."""
        if self._gc_held or not self.is_running:
            return
        gcpolicy.hold()
        gcpolicy.defer_full()  # full passes run between keys: self._quiet_gc, each poll
        self._gc_held = True

    def _hang_up(self) -> None:
        """The terminal is gone (the SSH session to the jump host dropped, tmux was killed).

        There is no one to draw for, and Textual's shutdown, which restores the terminal,
        can block for ever on a terminal that no longer exists (its writer thread's queue):
        the process then lingers, and an embedded collector keeps the store's lock from
        the viewers that would take over. So: stop our collector (its last poll is
        written and the lock released), then leave at once, as a hung-up shell does."""
        if self.collector is not None:
            self.collector.stop(timeout=2.0)
        os._exit(128 + signal.SIGHUP)

    def on_unmount(self) -> None:
        self._first_painted.set()  # a worker waiting for the first paint need not wait any more
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if self._gc_held:
            self._gc_held = False
            gcpolicy.release()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def on_resize(self, event: Any) -> None:
        self._layout(event.size.width, event.size.height)

    def _layout(self, width: int, height: int) -> None:
        self.set_class(is_wide(width, height), "-wide")
        self._catch_up()

    def watch_active_pane(self, pane_id: str) -> None:
        if not self.is_mounted or not self.query("#tabs"):
            return
        for p in self.query(Pane):
            p.set_class(p.id == pane_id, "-active")
        tabs = self.query_one("#tabs", Tabs)
        if tabs.active != f"tab-{pane_id}":
            tabs.active = f"tab-{pane_id}"
        self._catch_up()

    @on(Tabs.TabActivated, "#tabs")
    def _tab_clicked(self, event: Tabs.TabActivated) -> None:
        # Tabs posts TabActivated for our own ``tabs.active = ...`` too, and the message arrives
        # later: after "2" then "1", the one for Latency came when Health was active again and
        # switched back to Latency, whose own message switched to Health, and so on, a pane
        # switch (a layout of the screen) per message for as long as the keys kept coming.
        # Only the tab that is active now is a tab someone chose.
        if event.tab is not None and event.tab.id and event.tab.id == event.tabs.active:
            pane_id = event.tab.id.removeprefix("tab-")
            if pane_id != self.active_pane:
                self.active_pane = pane_id
                self.pane(pane_id).table.focus()

    def on_descendant_focus(self, event: Any) -> None:
        # Tab / Shift+Tab or a click moved focus to another pane's table (grid layout).
        widget = event.widget
        if isinstance(widget, RowTable) and isinstance(widget.parent, Pane) and widget.parent.id != self.active_pane:
            self.active_pane = widget.parent.id or self.active_pane

    def current_pane(self) -> Pane:
        return self.pane(self.active_pane)

    # --- data ---------------------------------------------------------------------

    def poll(self, urgent: bool = False) -> None:
        """Timer callback: starts the worker (at most one in flight), and gives the quiet-time
        GC its chance. ``urgent``: the user asked for it (``r``, their own ack), so it does not
        step aside for keys."""
        self._urgent = self._urgent or urgent
        if self._gc_held:
            self._quiet_gc.tick()
        if self.collector is None and self.collector_factory is not None and not self._taking_over:
            self._taking_over = True
            self.run_worker(self._try_take_over, thread=True, exit_on_error=False, group="takeover", name="takeover")
        if self._loading:
            return
        self._loading = True
        urgent, self._urgent = self._urgent, False
        self.run_worker(partial(self._load_view, urgent), thread=True, exit_on_error=False, group="poll", name="poll")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)):
            self._input.touched()
        await super().on_event(event)

    def _load_view(self, urgent: bool) -> None:
        """In the worker: read the store, build the view, post it. The first view leaves out the
        sparklines' history (a query per endpoint and cache, their last 15 minutes): it is read
        once the first screen is painted, and the view posted again with it."""
        try:
            first = not self._first_painted.is_set()
            ok = self._load_once(urgent, None if first else self._sparks)
            if first and ok and self._first_painted.wait(5.0):
                self._load_once(True, self._sparks)
        finally:
            self._loading = False

    def _load_once(self, urgent: bool, sparks: SparkCache | None) -> bool:
        since = time.monotonic()
        pause = None if urgent else partial(self._input.pause, since)
        ok = False
        if pause is not None:
            pause()
        now = self.now()
        try:
            if self._reader is None:
                if not self.store_path.exists():
                    raise OpsdashError("no store yet: waiting for a collector to write it")
                self._reader = Store(self.store_path, readonly=True)
            dead, self._graveyard = self._graveyard, []
            del dead  # the rows the last refreshes replaced: freed here, not on the UI thread
            snap = load_snapshot(self._reader, now, sparks, self._windows)
            view = build_view(snap, self._endpoint_tags, self._rule_for, pause=pause, severity=self._severity)
            self._pending_prepared = (view, self._prepare(view, pause))
            ok = True
        except Exception as e:  # noqa: BLE001 - reported as data, never a crash
            if self._reader is not None and not isinstance(e, OpsdashError):
                self._reader.close()
                self._reader = None
            msg = str(e).removeprefix(f"{self.store_path}: ")
            old = self.view
            view = View(now=now, rows=old.rows if old else {p: [] for p in PANES}, summary=Summary(error=msg))
            if old is not None:
                view.summary = copy.copy(old.summary)
                view.summary.error = msg
        self.pending_view = view
        self.post_message(ViewReady(since=-1.0 if urgent else since))
        return ok

    def _bury(self, dead: Any) -> None:
        """Keep ``dead`` (replaced rows) until the worker's next load frees it, off the UI thread."""
        self._graveyard.append(dead)

    def _prepare(self, view: View, pause: Callable[[], None] | None) -> dict[str, Prepared]:
        """In the worker: each pane's table rows for ``view``, so applying it on the UI thread is a
        list swap (pane.Prepared)."""
        prepared = {}
        for pane_id, pane in self._pane_by_id.items():  # taken on mount: no DOM query from a thread
            if pause is not None:
                pause()
            prepared[pane_id] = pane.prepare(view.rows.get(pane_id, []))
        return prepared

    def on_view_ready(self, message: ViewReady) -> None:
        # Swapping the rows in and repainting them waits for the keyboard to go quiet, too
        # (ui/priority.py); a newer view replaces this one meanwhile.
        wait = self._input.wait(message.since) if message.since >= 0 else 0.0
        if wait > 0:
            if self._apply_timer is None:
                self._apply_timer = self.set_timer(wait, partial(self._view_waited, message))
            return
        self._apply_timer = None
        view, self.pending_view = self.pending_view, None
        if view is not None:
            try:
                self.apply_view(view)
            except NoMatches:
                pass  # the app is starting up or shutting down: no panes to update

    def _view_waited(self, message: ViewReady) -> None:
        self._apply_timer = None
        self.on_view_ready(message)

    def apply_view(self, view: View, *, force: bool = False) -> None:
        """Show ``view``: the active pane now, the other visible panes one a frame after it.

        At 160x48 repainting six panes at once took 20-30 ms of the UI thread, so a key that
        landed then waited for all of them; the pane being looked at comes first, and a key
        now waits for one pane at most."""
        error = view.summary.error
        if error and error != self._last_error and not error.startswith("no store yet"):
            self.notify(join((f"{self.store_path}: ", ""), (error, "")), severity="error", timeout=10)
        self._last_error = error
        if self.view is not None and self.view is not view:
            self._bury(self.view)
        self.view = view
        ready = self._pending_prepared
        if ready is not None and ready[0] is view:
            self._bury(self._prepared)
            self._prepared, self._pending_prepared = ready[1], None
        for pane_id in PANES:  # a hidden pane (tabs layout) catches up when it is shown, as dolphie's do
            self._behind[pane_id] = self._behind.get(pane_id, False) or force
        with self.batch_update():
            self._catch_up(one=True)
            self._update_tabs(view)
            self._update_header()
        self._catch_up_later()

    @property
    def settled(self) -> bool:
        """Every visible pane shows the newest view (no poll, view or pane still on its way)."""
        return (self.view is not None and not self._loading and self.pending_view is None
                and not any(self._visible(p) for p in self._behind))

    def _visible(self, pane_id: str) -> bool:
        return self.has_class("-wide") or pane_id == self.active_pane

    def _catch_up(self, one: bool = False) -> None:
        """Apply the current view to visible panes that are behind, the active one first
        (``one``: only the first of them)."""
        if self.view is None or not self._behind:
            return
        for pane_id in sorted(self._behind, key=lambda p: p != self.active_pane):
            if self._visible(pane_id):
                force = self._behind.pop(pane_id)
                try:
                    self.pane(pane_id).apply(self.view.rows.get(pane_id, []), self._styles, self._match, force=force,
                                             prepared=self._prepared.get(pane_id))
                except NoMatches:
                    pass
                if one:
                    return

    def _catch_up_later(self) -> None:
        if self._catch_up_timer is None and any(self._visible(p) for p in self._behind):
            self._catch_up_timer = self.set_timer(FRAME, self._catch_up_next)
        elif not self._first_painted.is_set():  # the first view is on every visible pane
            self.call_after_refresh(self._first_paint_done)

    def _catch_up_next(self) -> None:
        self._catch_up_timer = None
        self._catch_up(one=True)
        self._catch_up_later()

    def _try_take_over(self) -> None:
        """In a thread: starting a collector opens the store, which can wait on it."""
        try:
            factory = self.collector_factory
            collector = factory() if factory is not None else None
            if collector is not None:
                self.call_from_thread(self._took_over, collector)
        finally:
            self._taking_over = False

    def _took_over(self, collector: Any) -> None:
        self.collector, self.took_over = collector, True
        self.notify("the collector that wrote this store stopped: this TUI polls now", severity="warning", timeout=8)
        self.poll(urgent=True)

    def _collector_state(self) -> str:
        if self.collector is not None and self.collector.running:
            return "● collector took over" if self.took_over else "embedded"
        return self.view.summary.collector if self.view else "none"

    def _update_header(self) -> None:
        if self.view is None:
            return
        s = self.view.summary
        self.query_one(FleetHeader).show(s, self.now(), self._styles, self._collector_state(), s.error)

    def _update_tabs(self, view: View) -> None:
        tabs = self.query_one("#tabs", Tabs)
        for i, p in enumerate(PANES):
            rows = view.rows.get(p, [])
            ready = self._prepared.get(p)
            worst = ready.worst if ready is not None and ready.source is rows else max((r.level for r in rows), default=0)
            mark = {3: " ✖", 2: " ▲"}.get(worst, "")
            label = f"{i + 1} {PANE_TITLES[p]}{mark}"
            tab = tabs.query_one(f"#tab-{p}", Tab)
            if str(tab.label) != label:
                tab.label = label
                tab.set_class(worst >= 3, "-crit")
                tab.set_class(worst == 2, "-warn")

    def _on_theme_changed(self, _theme: Any) -> None:
        self._styles = level_styles(self.theme_variables)
        if self.view is not None:
            try:
                self.apply_view(self.view, force=True)
            except NoMatches:
                pass

    # --- actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The noise and handover screens hide the panes: keys that act on a pane's selected row
        # would act on a row nobody can see, so they are off there (and out of that footer).
        if action in PANE_ACTIONS and any(isinstance(s, (NoiseScreen, HandoverScreen, IncidentsScreen, SLAScreen))
                                          for s in self.screen_stack):
            return False
        if action in VIEW_ACTIONS and len(self.screen_stack) > 1:
            return False
        if action in WRITE_ACTIONS and self.read_only:
            return False
        return True

    def action_pane(self, pane_id: str) -> None:
        self.active_pane = pane_id
        self.pane(pane_id).table.focus()

    def action_next_pane(self, step: int) -> None:
        line = self.query_one(FilterLine)
        if line.prompting and line.has_focus:
            return  # typing a filter: Tab is no reason to leave it
        self.action_pane(PANES[(PANES.index(self.active_pane) + step) % len(PANES)])

    def action_filter(self) -> None:
        self.query_one(FilterLine).open()

    @on(FilterLine.Changed)
    def _filter_changed(self, event: FilterLine.Changed) -> None:
        # Keys that arrive together (fast typing, a paste, a burst over SSH) are all in the line
        # before their messages are handled here: only the message with the line's text as it
        # is now re-filters the panes, once; the others (and any typed before an Esc that has
        # cleared the line since) are stale.
        if event.value == self.query_one(FilterLine).value:
            self.filter_text = event.value

    @on(FilterLine.Submitted)
    def _filter_done(self, event: FilterLine.Submitted) -> None:
        line = self.query_one(FilterLine)
        if not event.value:
            line.close()
        # Now, not by .focus() (a callback after the keys already queued): the keys typed
        # after Enter come round again behind this message and must find the pane focused.
        self.screen.set_focus(self.current_pane().table)

    def watch_filter_text(self, text: str) -> None:
        self._match = compile_filter(text)
        if self.view is not None:
            self.apply_view(self.view)

    def action_clear_filter(self) -> None:
        line = self.query_one(FilterLine)
        line.clear()
        line.close()
        # Now, not when the line's Changed message comes round: the panes' rows and the focus
        # move then reach the screen in one frame.
        self.filter_text = ""
        self.current_pane().table.focus()
        self.clear_notifications()  # Esc also hides the toasts (the no-config notice waits for it)

    def selected_row(self) -> Row | None:
        return self.current_pane().selected()

    @on(DataTable.RowSelected)
    @on(RowTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected | RowTable.RowSelected) -> None:
        event.stop()
        self.action_drill()

    def action_drill(self) -> None:
        pane = self.current_pane()
        if isinstance(pane, AlertsPane) and pane.toggle_fold():  # Enter on the far-off pending line
            return
        row = self.selected_row()
        if row is None:
            self.notify("nothing selected", severity="warning", timeout=2)
            return
        self.push_screen(DetailScreen(row.ref, self.store_path, self.now, self._styles))

    def _target_alert(self) -> Any:
        """The alert the a/s/e keys act on: the selected alert, or the worst open one of the selected row."""
        row = self._context_row()
        if row is None:
            return None
        alerts = self.view.rows.get("alerts", []) if self.view else []
        if row.ref.kind == "alert":
            return row
        related = [r for r in alerts if r.ref.target == row.ref.target and r.cells[1][0] != "resolved"]
        return related[0] if related else None

    def _context_row(self) -> Row | None:
        if isinstance(self.screen, DetailScreen):
            ref = self.screen.ref
            rows = [r for rows in (self.view.rows.values() if self.view else []) for r in rows if r.ref == ref]
            return rows[0] if rows else None
        return self.selected_row()

    def on_key(self, event: events.Key) -> None:
        # A write key on a wallboard reaches here (check_action keeps it out of the bindings and
        # the key bar): it runs its action, which refuses with one line, rather than nothing.
        if not self.read_only:
            return
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.key == event.key and binding.action in WRITE_ACTIONS:
                event.stop()
                getattr(self, f"action_{binding.action}")()
                return

    def refused(self, what: str) -> bool:
        """True (and says so) when this is a read-only wallboard: the one check before every write
        a person asks for (ack, silence, unsilence, escalate, a note, writing the handover)."""
        if self.read_only:
            self.notify(f"read-only wallboard: {what} is off here (opsdash web --allow-actions, or the TUI in a "
                        "terminal)", severity="warning", timeout=5)
        return self.read_only

    def action_ack(self) -> None:
        if self.refused("ack"):
            return
        row = self._target_alert()
        if row is None:
            self.notify("no open alert here to ack (6 shows the alert queue)", severity="warning", timeout=3)
            return
        what = join((row.cells[0][0], "bold"), "  ", (row.ref.target, "bold"), "  ", (row.cells[3][0], ""))
        already = None
        if row.cells[5][0] == "acked":
            already = Text("already acked; a new ack replaces the note", style="italic")
        alert_id = row.ref.name

        def done(note: str | None) -> None:
            if note is not None:
                self._write(lambda: actions.ack(self.store_path, alert_id, note, self.now()), f"acked {alert_id}")

        self.push_screen(AckDialog(what, already), done)

    def action_silence(self) -> None:
        if self.refused("silence"):
            return
        row = self._context_row()
        if row is None:
            self.notify("nothing selected to silence", severity="warning", timeout=3)
            return
        if row.ref.kind == "alert" and row.tags.get("rule"):
            matchers = {"target": row.ref.target, "rule": row.tags["rule"]}
        else:
            matchers = {"target": row.ref.target}

        def done(req: SilenceRequest | None) -> None:
            if req is not None:
                label = ", ".join(f"{k}={v}" for k, v in req.matchers.items())
                self._write(
                    lambda: actions.silence(self.store_path, req.matchers, req.duration_s, req.note, self.now(),
                                            mirror=self.alertmanager),
                    f"silenced {label} for {fmt_age(req.duration_s)}",
                )

        vocabulary = partial(actions.silence_vocabulary, self.store_path, self.config, self.now())
        self.push_screen(SilenceDialog(matchers, vocabulary=vocabulary), done)

    def action_unsilence(self) -> None:
        """End the silences covering the selected alert (or the selected row's open alerts)."""
        if self.refused("unsilence"):
            return
        row = self._context_row()
        if row is None:
            self.notify("nothing selected to unsilence", severity="warning", timeout=3)
            return
        rows = self.view.rows.get("alerts", []) if self.view else []
        ids = [row.ref.name] if row.ref.kind == "alert" else [
            r.ref.name for r in rows if r.ref.target == row.ref.target and r.cells[1][0] != "resolved"]
        what = join(("silences covering ", ""), (row.ref.target, "bold"),
                    *(("  ", (row.cells[3][0], "")) if row.ref.kind == "alert" else ()))

        def done(silence_ids: list[int] | None) -> None:
            if silence_ids:
                self._write(lambda: actions.unsilence(self.store_path, silence_ids, self.now(), mirror=self.alertmanager),
                            "ended silence " + ", ".join(f"#{i}" for i in silence_ids))

        self.push_screen(UnsilenceDialog(what, partial(actions.silences_covering, self.store_path, ids, self.now()),
                                         self.now), done)

    def action_escalate(self) -> None:
        if self.refused("escalate"):
            return
        row = self._target_alert()
        if row is None:
            self.notify("no open alert here to escalate", severity="warning", timeout=3)
            return
        self._open_packet(row.ref.name, row.ref.target)

    @work(thread=True, exit_on_error=False, group="write")
    def _open_packet(self, alert_id: str, target: str) -> None:
        try:
            with Store(self.store_path, readonly=True) as store:
                md, to = actions.escalation_packet(store, alert_id, self.now(), self.config)
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.call_from_thread(self.notify, join(("cannot build the packet: ", "bold"), (str(e), "")),
                                  severity="error")
            return

        def done(record: bool | None) -> None:
            if record:
                self._write(lambda: actions.escalate(self.store_path, alert_id, self.now()),
                            f"escalated {alert_id} to {to}")

        self.call_from_thread(self.push_screen, PacketScreen(safe(target), md, to), done)

    @work(thread=True, exit_on_error=False, group="write")
    def _write(self, fn: Callable[[], Any], message: str, then: Callable[[], Any] | None = None) -> None:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a failed write is shown, not a crash
            self.call_from_thread(self.notify, join(("failed: ", "bold"), (str(e), "")), severity="error", timeout=8)
            return
        self.call_from_thread(self.notify, safe(message), timeout=3)
        self.call_from_thread(self.poll, True)  # show the user their own change now
        if then is not None:
            self.call_from_thread(then)

    # --- shift: noise, handover, notes ------------------------------------------------

    def action_noise(self) -> None:
        if isinstance(self.screen, NoiseScreen):
            self.screen.load()
            return
        self.push_screen(NoiseScreen(self.store_path, self.now, self._styles))

    def action_handover(self) -> None:
        if isinstance(self.screen, HandoverScreen):
            self.screen.load()
            return
        self.push_screen(HandoverScreen(self.store_path, self.config, self.now))

    def action_sla(self) -> None:
        if isinstance(self.screen, SLAScreen):
            self.screen.load()
            return
        self.push_screen(SLAScreen(self.store_path, self.config, self.now))

    def action_incidents(self) -> None:
        if isinstance(self.screen, IncidentsScreen):
            self.screen.load()
            return
        self.push_screen(IncidentsScreen(self.store_path, self.config, self.now))

    def action_note(self) -> None:
        if self.refused("a note for the next shift"):
            return
        row = self._context_row() if not isinstance(self.screen, (NoiseScreen, HandoverScreen)) else None
        target = row.ref.target if row is not None else None

        def done(req: NoteRequest | None) -> None:
            if req is None:
                return
            on_screen = self.screen  # a handover on screen reloads to show the new note

            def reload() -> None:
                if isinstance(on_screen, HandoverScreen) and on_screen.is_attached:
                    on_screen.load()

            self._write(lambda: actions.note(self.store_path, req.text, req.target, self.now()),
                        "note saved" + (f" on {req.target}" if req.target else "") + "; it shows in the handover (h)",
                        reload)

        self.push_screen(NoteDialog(target), done)

    def action_refresh(self) -> None:
        if self.collector is not None and self.collector.running:
            try:
                self.collector.refresh_now()
            except Exception as e:  # noqa: BLE001
                self.notify(join(("refresh failed: ", "bold"), (str(e), "")), severity="error")
        self.poll(urgent=True)
        self.notify("refreshing", timeout=1.5)

    def action_next_theme(self) -> None:
        names = self.theme_names or [self.theme]
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self._remember_theme(self.theme)

    def _remember_theme(self, name: str) -> None:
        cfg = self.config
        if not self.save_theme or cfg is None or cfg.path is None or not Path(cfg.path).exists():
            self.notify(Text(f"theme {name}"), timeout=2)
            return
        path = Path(cfg.path)
        self._write(lambda: update_config(path, lambda doc: set_theme(doc, name)),
                    f"theme {name}, saved to {tilde(path)}")

    def notify(self, message: str | Text, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """A toast. Remote text comes as a Rich ``Text`` (safetext.safe/join): Textual 8's toast
        takes str markup or ``Content`` and crashes rendering a ``Text``, so convert it (literally)."""
        if isinstance(message, Text):
            message = Content.from_rich_text(message)  # type: ignore[assignment]
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)  # type: ignore[arg-type]

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    async def action_quit(self) -> None:
        self.exit()

    # --- command palette -------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if not isinstance(screen, (NoiseScreen, HandoverScreen)):  # see check_action
            yield from self._pane_commands()
        yield SystemCommand("Refresh now", "Poll now and reload (key r)", self.action_refresh)
        yield SystemCommand("Next theme", "Switch to the next theme and remember it (key t)", self.action_next_theme)
        yield SystemCommand("Noise", "Per-rule pages, flap % and time to ack, last 7 days (key n)", self.action_noise)
        yield SystemCommand("Shift handover", "The shift report; w writes it to a file (key h)", self.action_handover)
        yield SystemCommand("Note for the next shift", "Leave a note; it shows in the handover (key N)",
                            self.action_note)
        yield SystemCommand("Incidents", "Incidents, their checklist, alerts and timeline (key i)",
                            self.action_incidents)
        yield SystemCommand("Help", "Every key (key ?)", self.action_help)
        yield from super().get_system_commands(screen)

    def _pane_commands(self) -> Iterable[SystemCommand]:
        for i, p in enumerate(PANES):
            yield SystemCommand(f"Jump to {PANE_TITLES[p]}", f"Show the {PANE_TITLES[p]} pane (key {i + 1})",
                                lambda p=p: self.action_pane(p))
        yield SystemCommand("Filter rows", "Filter by text or tag=value (key /)", self.action_filter)
        yield SystemCommand("Drill down", "Open the selected row's detail (key Enter)", self.action_drill)
        yield SystemCommand("Ack alert", "Acknowledge the selected alert with a note (key a)", self.action_ack)
        yield SystemCommand("Silence", "Silence the selected target or alert (key s)", self.action_silence)
        yield SystemCommand("Unsilence", "End the silences covering the selected alert (key u)",
                            self.action_unsilence)
        yield SystemCommand("Escalation packet", "Show the escalation packet (key e)", self.action_escalate)
