"""Remote text made literal for the UI.

Everything that came from a host, an endpoint or a probe is untrusted: it may
contain Rich markup (``[red]``, ``[link=...]``) or terminal escape sequences
(``ESC ] 52`` writes the clipboard, ``ESC [ 2J`` clears the screen). The UI
shows such text only through :func:`safe`: a Rich ``Text`` (never parsed as
markup) whose control characters were replaced by visible escapes
(``opsdash.textsafe.clean``). Never pass remote text to ``Text.from_markup``,
``Static("...")``, ``notify("...")`` or a DataTable cell as a ``str`` (a str
cell is parsed as markup).
"""

from __future__ import annotations

from rich.style import StyleType
from rich.text import Text

from ..textsafe import clean, to_str


def safe(value: object, style: StyleType = "", *, multiline: bool = False, limit: int | None = None) -> Text:
    """Remote text as a literal Rich ``Text``."""
    return Text(clean(value, multiline=multiline, limit=limit), style=style, end="", no_wrap=not multiline)


def join(*parts: Text | tuple[object, StyleType] | str) -> Text:
    """Concatenate pieces without ever parsing markup: ``Text`` as is, ``(value, style)`` and str cleaned."""
    out = Text(end="")
    for p in parts:
        if isinstance(p, Text):
            out.append_text(p)
        elif isinstance(p, tuple):
            out.append_text(safe(p[0], p[1]))
        else:
            out.append(clean(p))
    return out


__all__ = ["clean", "join", "safe", "to_str"]
