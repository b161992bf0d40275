"""The value checks every config key uses, config.py's own and the probe kinds'.

Each takes a TOML value and returns it converted, or raises ``Invalid`` saying what
was expected ("a duration like \"90s\""); config.py adds the file, the line and the key
path. ``Invalid`` is a ValueError, the kinds' way of refusing a value (kinds/base.KeyChecker).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

__all__ = ["Invalid", "duration", "nonempty", "one_of", "parse_duration", "positive_duration", "str_table", "string"]


class Invalid(ValueError):
    """A value is wrong: ``expected`` says what would have been right."""

    def __init__(self, expected: str):
        super().__init__(expected)
        self.expected = expected


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s' -> 90.0, '1h30m' -> 5400.0, '14d' -> 1209600.0. Raises ValueError."""
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"not a duration: {text!r}")
    return total


def string(v: Any) -> str:
    if not isinstance(v, str):
        raise Invalid("a string")
    return v


def nonempty(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise Invalid("a non-empty string")
    return v


def duration(v: Any) -> float:
    if isinstance(v, bool):
        raise Invalid('a duration like "90s", "5m", "24h" or "14d"')
    if isinstance(v, (int, float)) and 0 <= v < math.inf:  # inf and nan are not durations
        return float(v)  # plain numbers are seconds
    if isinstance(v, str):
        try:
            d = parse_duration(v)
        except ValueError:
            pass
        else:
            if math.isfinite(d):  # "999...9d" overflows to inf
                return d
    raise Invalid('a duration like "90s", "5m", "24h" or "14d"')


def positive_duration(v: Any) -> float:
    d = duration(v)
    if d <= 0:
        raise Invalid("a duration greater than zero")
    return d


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in choices:
            raise Invalid("one of " + ", ".join(f'"{c}"' for c in choices))
        return v

    return check


def str_table(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise Invalid("a table of strings, like { role = \"web\" }")
    return dict(v)
