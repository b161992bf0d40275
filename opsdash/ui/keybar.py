"""The main screen's footer: the focused widget's key bindings, drawn as one line.

Textual's ``Footer`` recomposes one widget per key whenever the bindings change,
i.e. whenever focus moves: each pane switch, each open or close of the filter.
The discarded widgets are reference cycles; at 1000 hosts they piled up until a
full GC pass freed ~170,000 objects at once and froze the UI for half a second
(bench/tui_bench.py caught it as 500 ms outliers). ``KeyBar`` draws the same
hints as one widget that re-renders its text: nothing to build, nothing to collect.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget


class KeyHint(NamedTuple):
    key: str  # what simulate_key presses when the hint is clicked
    display: str  # how the key is shown ("⏎", "^p")
    description: str
    enabled: bool
    group: str | None  # a Binding.Group's description: shown once after its keys, only if it fits


class KeyBar(Widget, can_focus=False):
    """One line of ``key description`` hints, in binding order, one per action.

    Ungrouped hints come first, as many as fit whole; a binding group (``n h N
    noise handover note``) follows only when it fits too, then ``^p palette`` at
    the right edge when there is room. A disabled binding is dimmed; a click on a
    hint presses its key.
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .keybar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._hits: list[tuple[int, int, KeyHint]] = []  # x ranges drawn by the last render
        self._hints: list[KeyHint] | None = None  # what the last render drew

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: Screen[Any]) -> None:
        # Focus moves on every pane switch and filter open/close, mostly between widgets with the
        # same keys. Repainting this bottom line anyway would stretch the screen's update region
        # (one rectangle around everything dirty) from the pane that changed down to here, and
        # every pane in between would be drawn again (at 160x48, all six).
        if self.hints() != self._hints:
            self.refresh()

    def hints(self) -> list[KeyHint]:
        seen: set[str] = set()
        out = []
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            group = binding.group.description if binding.group is not None else None
            out.append(KeyHint(binding.key, self.app.get_key_display(binding), binding.description, enabled, group))
        return out

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        desc_style = self.get_component_rich_style("keybar--description", partial=True)
        dim = Style(dim=True)
        width = self.size.width or 80
        hints = self._hints = self.hints()
        line = Text(no_wrap=True, overflow="crop", end="")
        hits: list[tuple[int, int, KeyHint]] = []

        def add(h: KeyHint, description: str) -> bool:
            """Append one hint if it fits whole; a cut-off hint ("t The") reads as mush."""
            start = line.cell_len
            if start + 1 + len(h.display) + (1 + len(description) if description else 0) > width:
                return False
            extra = dim if not h.enabled else Style()
            line.append(" " + h.display, key_style + extra)
            if description:
                line.append(" " + description, desc_style + extra)
            hits.append((start, line.cell_len, h))
            return True

        for h in hints:
            if h.group is None and not add(h, h.description):
                break  # the rest are listed by ? and Ctrl+P
        groups: dict[str, list[KeyHint]] = {}
        for h in hints:
            if h.group is not None:
                groups.setdefault(h.group, []).append(h)
        for label, members in groups.items():
            need = sum(1 + len(h.display) for h in members) + 1 + len(label)
            if line.cell_len + 1 + need > width:
                continue  # a group shows whole or not at all; ? and Ctrl+P list it always
            line.append(" ")
            for h in members:
                add(h, "")
            line.append(" " + label, desc_style)
        palette = self._palette_hint()
        if palette is not None:  # right-aligned, as Textual's Footer has it, when there is room
            need = 1 + len(palette.display) + 1 + len(palette.description) + 1
            if line.cell_len + 1 + need <= width:
                line.append(" " * (width - line.cell_len - need))
                add(palette, palette.description)
                line.append(" ")
        self._hits = hits
        return line

    def _palette_hint(self) -> KeyHint | None:
        app = self.app
        if not app.ENABLE_COMMAND_PALETTE or not getattr(self.screen, "ENABLE_COMMAND_PALETTE", True):
            return None
        key = app.COMMAND_PALETTE_BINDING
        return KeyHint(key, app.COMMAND_PALETTE_DISPLAY or app.get_key_display(Binding(key, "")), "palette", True, None)

    def on_click(self, event: events.Click) -> None:
        for start, end, h in self._hits:
            if start <= event.x < end:
                event.stop()
                if h.enabled:
                    self.app.simulate_key(h.key)
                else:
                    self.app.bell()
                return


__all__ = ["KeyBar", "KeyHint"]
