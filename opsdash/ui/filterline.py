"""The main screen's bottom line: the key hints, or the filter prompt while filtering.

As in less, vim and htop, ``/`` turns the line of key hints into a prompt:
``filter: web role=db``. One widget, one line, two modes. A separate input box
(Textual's ``Input``, used here before) cost a layout of the whole screen each
time it was shown or hidden, and another for every character typed (it resizes
its scroll range); at 160x48 those layouts were most of a filter key's cost.
Switching modes or editing here repaints this one line.

Editing is what a one-line prompt needs: insert, Backspace/Delete, Left/Right,
Home/End (Ctrl+A/Ctrl+E), Ctrl+U (to the start), Ctrl+W (a word), paste. Enter
posts ``Submitted`` (the app keeps the filter and gives the panes the keys back);
Esc is left to the app's binding (clear the filter). Control characters in a
paste never reach the text: it is drawn as plain ``Text``, never markup.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message

from .keybar import KeyBar

LABEL = "filter: "
PLACEHOLDER = "text, or tag=value (Enter keeps it, Esc clears)"


def printable(text: str) -> str:
    """``text`` with line breaks as spaces and every other control character dropped."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return "".join(c for c in text if c.isprintable())


class FilterLine(KeyBar, can_focus=True):
    """Key hints, or (``prompting``) the filter text being typed or kept."""

    COMPONENT_CLASSES = KeyBar.COMPONENT_CLASSES | {
        "filterline--label", "filterline--placeholder", "filterline--cursor",
    }
    DEFAULT_CSS = """
    FilterLine.-prompt { background: $surface; color: $foreground; }
    FilterLine.-prompt:focus { background: $primary-background; }
    FilterLine > .filterline--label { color: $text-muted; text-style: bold; }
    FilterLine > .filterline--placeholder { color: $text-muted; }
    FilterLine > .filterline--cursor { text-style: reverse; }
    """

    class Changed(Message):
        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

    class Submitted(Message):
        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.can_focus = False  # only while prompting: the hints line must never swallow keys
        self.prompting = False
        self.value = ""
        self.cursor = 0
        self._handed_back = False  # Enter kept the filter; the app moves the focus on

    # --- modes -----------------------------------------------------------------------

    def open(self) -> None:
        """Show the prompt (with the filter in force, if any) and take the keys."""
        self.prompting = True
        self.can_focus = True
        self._handed_back = False
        self.add_class("-prompt")
        self.cursor = len(self.value)
        self.focus()
        self.refresh()

    def close(self) -> None:
        """Back to the key hints (the caller moves the focus on)."""
        self.prompting = False
        self.can_focus = False
        self.remove_class("-prompt")
        self.refresh()

    def clear(self) -> None:
        self._edit("", 0)

    # --- editing ---------------------------------------------------------------------

    def _edit(self, value: str, cursor: int) -> None:
        self.cursor = max(0, min(cursor, len(value)))
        if value != self.value:
            self.value = value
            self.post_message(self.Changed(value))
        self.refresh()

    def on_blur(self) -> None:
        self._handed_back = False

    def on_key(self, event: events.Key) -> None:
        if self._handed_back:
            # Typed after Enter, in the same burst ("db-2", Enter, Enter over a slow link): the
            # app had routed these here before it moved the focus. It routes them again, after
            # the Submitted below, so they reach the pane; once only, so nothing goes round.
            event.stop()
            event.prevent_default()
            if not getattr(event, "_typeahead", False):
                again = events.Key(event.key, event.character)
                again._typeahead = True  # type: ignore[attr-defined]
                self.app.post_message(again)
            return
        if not (self.prompting and self.has_focus):
            return
        v, c = self.value, self.cursor
        key = event.key
        if key == "enter":
            self._handed_back = True
            self.app.post_message(self.Submitted(v))  # to the app at once: ahead of the keys that follow
        elif key == "backspace":
            if c:
                self._edit(v[: c - 1] + v[c:], c - 1)
        elif key == "delete":
            self._edit(v[:c] + v[c + 1:], c)
        elif key == "left":
            self._edit(v, c - 1)
        elif key == "right":
            self._edit(v, c + 1)
        elif key in ("home", "ctrl+a"):
            self._edit(v, 0)
        elif key in ("end", "ctrl+e"):
            self._edit(v, len(v))
        elif key == "ctrl+u":
            self._edit(v[c:], 0)
        elif key == "ctrl+w":  # the word before the cursor, as readline's unix-word-rubout
            start = v[:c].rstrip(" ").rfind(" ") + 1
            self._edit(v[:start] + v[c:], start)
        elif event.is_printable and event.character:
            text = printable(event.character)
            self._edit(v[:c] + text + v[c:], c + len(text))
        else:
            return  # Esc, Tab, Ctrl+C...: the app's bindings
        event.stop()
        event.prevent_default()

    def on_paste(self, event: events.Paste) -> None:
        if self.prompting and self.has_focus:
            event.stop()
            text = printable(event.text)
            v, c = self.value, self.cursor
            self._edit(v[:c] + text + v[c:], c + len(text))

    def on_click(self, event: events.Click) -> None:
        # Textual calls KeyBar.on_click after this one (handlers run down the class hierarchy),
        # which presses the hint under the pointer; while prompting there are no hints to press.
        if self.prompting:
            event.stop()
            event.prevent_default()
            self.focus()

    # --- drawing ---------------------------------------------------------------------

    def render(self) -> Text:
        if not self.prompting:
            return super().render()
        label = self.get_component_rich_style("filterline--label", partial=True)
        cursor = self.get_component_rich_style("filterline--cursor", partial=True)
        line = Text(no_wrap=True, overflow="crop", end="")
        line.append(" " + LABEL, label)
        room = max(1, (self.size.width or 80) - line.cell_len - 1)
        focused = self.has_focus
        if not self.value:
            line.append(PLACEHOLDER, self.get_component_rich_style("filterline--placeholder", partial=True))
            if focused:  # the cursor sits on the placeholder's first letter, as in Textual's Input
                at = len(LABEL) + 1
                line.stylize(cursor, at, at + 1)
            return line
        # Scroll sideways so the cursor stays in view: the window ends at the cursor when it must.
        start = max(0, self.cursor - room + 1)
        shown = self.value[start:start + room]
        line.append(shown)
        if focused:
            at = len(line.plain) - len(shown) + (self.cursor - start)
            if self.cursor >= len(self.value):
                line.append(" ", cursor)
            else:
                line.stylize(cursor, at, at + 1)
        return line


__all__ = ["FilterLine", "printable"]
