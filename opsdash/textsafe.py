"""Untrusted text made harmless for a terminal, a Markdown file or a log line.

Anything that came from a remote host may carry escape sequences (OSC 52
writes the clipboard, CSI 2J clears the screen), C1 controls or bidi
overrides. ``clean`` replaces each with a visible escape such as ``\\e`` so
it is shown, never executed. The UI wraps the result in a Rich ``Text``
(opsdash/ui/safetext.py) so markup in it is never parsed either.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (incl. the 8-bit CSI 0x9b), line/paragraph
# separators and bidi overrides that reorder what the reader sees.
_CONTROL_MULTILINE = re.compile(
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
    """Any value as str; bytes decode as UTF-8 with replacement characters."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


# What json.dumps(..., ensure_ascii=False) leaves raw although a terminal acts on it:
# DEL, C1 controls (0x9b is an 8-bit CSI), line separators, bidi controls, BOM.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]")


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the control
    characters json leaves raw written as ``\\uXXXX`` escapes. Still the same JSON:
    those characters can only occur inside strings, where the escape means the same."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def clean(value: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """``value`` with every control character replaced by a visible escape.

    ``multiline`` keeps newlines and tabs (raw probe output); otherwise they
    are escaped too, so one remote value can never break a table row.
    """
    s = to_str(value)
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    return (_CONTROL_MULTILINE if multiline else _CONTROL_ONE_LINE).sub(_visible, s)


_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")


def without_userinfo(url: str) -> str:
    """The URL without ``user:password@`` (``https://u:pw@host/`` -> ``https://host/``).

    A URL from the config may carry a password; it is shown, stored and
    reported only without it.
    """
    return _USERINFO.sub(r"\1", url)
