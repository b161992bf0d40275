"""Remote text made harmless.

Everything that came from a host, an endpoint or a probe is untrusted: it may
contain Rich markup (``[red]``, ``[link=...]``) or terminal escape sequences
(``ESC ] 52`` writes the clipboard, ``ESC [ 2J`` clears the screen). The UI
shows such text only through :func:`safe` (a Rich ``Text``, never parsed as
markup) or :func:`clean` (a plain string with every control character made
visible), so it is displayed literally and never reaches the terminal as a
command.

This module imports Rich (for ``Text``) but not Textual.
"""

from __future__ import annotations

import re

from rich.style import Style, StyleType
from rich.text import Text

# C0 controls except TAB/LF, DEL, C1 controls (0x80-0x9f, incl. the 8-bit CSI 0x9b),
# Unicode line/paragraph separators and bidi overrides that can reorder what the
# reader sees (the "Trojan Source" characters).
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]"
)
_CONTROL_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]"
)
_NAMES = {"\x1b": "\\e", "\x07": "\\a", "\x08": "\\b", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x7f": "\\x7f"}


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    name = _NAMES.get(ch)
    if name:
        return name
    o = ord(ch)
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def to_str(value: object) -> str:
    """Any value as str; bytes are decoded as UTF-8 with replacement characters."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def clean(value: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """A plain string in which every control character is replaced by a visible escape.

    ``multiline`` keeps newlines and tabs (for raw probe output); otherwise they
    are escaped too, so one remote value can never break a table row.
    """
    s = to_str(value)
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    pattern = _CONTROL if multiline else _CONTROL_ONE_LINE
    return pattern.sub(_visible, s)


def safe(value: object, style: StyleType = "", *, multiline: bool = False, limit: int | None = None) -> Text:
    """Remote text as a literal Rich ``Text`` (never parsed as markup)."""
    return Text(clean(value, multiline=multiline, limit=limit), style=style, end="", no_wrap=not multiline)


def join(*parts: Text | tuple[object, StyleType] | str) -> Text:
    """Join trusted literal strings, styled pairs and ``Text`` pieces without markup parsing."""
    out = Text(end="")
    for p in parts:
        if isinstance(p, Text):
            out.append_text(p)
        elif isinstance(p, tuple):
            out.append_text(safe(p[0], p[1]))
        else:
            out.append(clean(p))
    return out


__all__ = ["Style", "clean", "join", "safe", "to_str"]
