"""A tiny JSONPath: "$.a.b[0]", "$['odd key'][-1]" -> the value at that place of a JSON document.

Pure: ``compile`` turns the text of a path into its steps (keys and indexes) or
raises ParseError naming what it expected; ``find`` walks a decoded document
(``json.loads``'s dicts, lists and scalars) and says whether the place exists.
No wildcards, filters or recursive descent: a journey's ``extract`` and
``expect_json`` name one value, and a path that could name many would make
"which one?" a question at 3 AM.

Grammar: ``$`` then any number of ``.name`` (letters, digits, ``_``, ``-``),
``[N]`` (an integer; negative counts from the end) or ``['text']`` / ``["text"]``
(any key; ``\\`` escapes the quote or itself).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ParseError

__all__ = ["MISSING", "compile", "find", "show"]

Step = str | int

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

_NAME = re.compile(r"[A-Za-z0-9_\-]+")
_INDEX = re.compile(r"\[\s*(-?[0-9]{1,18})\s*\]")
_MAX_STEPS = 64


def compile(path: str) -> tuple[Step, ...]:  # noqa: A001 - the path's compile, as re.compile
    """The steps of ``path``; ParseError (with the path) on anything outside the grammar."""
    if not isinstance(path, str):
        raise ParseError("a JSON path is text")
    if not path.startswith("$"):
        raise ParseError('a JSON path starts with "$"', line=path)
    steps: list[Step] = []
    i, n = 1, len(path)
    while i < n:
        if len(steps) >= _MAX_STEPS:
            raise ParseError(f"a JSON path of at most {_MAX_STEPS} steps", line=path)
        c = path[i]
        if c == ".":
            m = _NAME.match(path, i + 1)
            if not m:
                raise ParseError(f"a key name after the dot at position {i + 1}", line=path)
            steps.append(m.group())
            i = m.end()
        elif c == "[":
            m = _INDEX.match(path, i)
            if m:
                steps.append(int(m.group(1)))
                i = m.end()
                continue
            key, i = _quoted(path, i + 1)
            if i >= n or path[i] != "]":
                raise ParseError(f'"]" after the quoted key at position {i + 1}', line=path)
            steps.append(key)
            i += 1
        else:
            raise ParseError(f'".key" or "[...]" at position {i + 1}, not {c!r}', line=path)
    return tuple(steps)


def _quoted(path: str, i: int) -> tuple[str, int]:
    if i >= len(path) or path[i] not in "'\"":
        raise ParseError(f"an index or a quoted key in [...] at position {i + 1}", line=path)
    quote, i = path[i], i + 1
    out: list[str] = []
    while i < len(path):
        c = path[i]
        if c == "\\" and i + 1 < len(path):
            out.append(path[i + 1])
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise ParseError("a closing quote", line=path)


def find(doc: Any, steps: tuple[Step, ...]) -> Any:
    """The value at ``steps`` in ``doc``, or MISSING when there is none (a key that is not
    there, an index out of range, a step into a scalar). Never raises for any document."""
    cur = doc
    for s in steps:
        if isinstance(s, int):
            if not isinstance(cur, list) or not -len(cur) <= s < len(cur):
                return MISSING
            cur = cur[s]
        else:
            if not isinstance(cur, dict) or s not in cur:
                return MISSING
            cur = cur[s]
    return cur


def show(steps: tuple[Step, ...]) -> str:
    """The path of ``steps`` written back ("$.a[0]['b c']"), for messages."""
    out = ["$"]
    for s in steps:
        if isinstance(s, int):
            out.append(f"[{s}]")
        elif _NAME.fullmatch(s):
            out.append("." + s)
        else:
            out.append("['" + s.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(out)
