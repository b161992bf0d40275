"""varnishstat output -> CacheCounters.

Three shapes are read:
- ``varnishstat -j`` from Varnish >= 6.5: ``{"version": 1, "timestamp": ...,
  "counters": {"MAIN.cache_hit": {"value": 3, ...}, ...}}``
- ``varnishstat -j`` before 6.5: the same counter objects at the top level,
  next to ``"timestamp"``.
- ``varnishstat -1``: ``NAME  VALUE  RATE  DESCRIPTION`` columns.

Hit rate is cache_hit / (cache_hit + cache_miss). A hit-for-miss
(cache_hitmiss) is also counted in cache_miss, so it is not added again.
Ops are MAIN.client_req; uptime is MAIN.uptime (the child process: a child
restart resets the counters, and this is what tells it apart).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ParseError
from ..model import CacheCounters

__all__ = ["parse_varnishstat", "parse_varnishstat_json", "parse_varnishstat_text"]

_LINE_RE = re.compile(r"^(\S+)\s+(\d{1,20})(?:\s+(\S+)(?:\s+(.*))?)?$")


def _counters(values: dict[str, int]) -> CacheCounters:
    missing = [k for k in ("MAIN.cache_hit", "MAIN.cache_miss") if k not in values]
    if missing:
        raise ParseError("varnishstat output has no " + " or ".join(missing))
    uptime = values.get("MAIN.uptime")
    return CacheCounters(
        hits=values["MAIN.cache_hit"],
        misses=values["MAIN.cache_miss"],
        ops=values.get("MAIN.client_req"),
        uptime_s=float(uptime) if uptime is not None else None,
    )


def parse_varnishstat_json(text: str) -> CacheCounters:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        line = text.splitlines()[e.lineno - 1] if 0 < e.lineno <= len(text.splitlines()) else None
        raise ParseError(f"varnishstat -j output is not JSON: {e.msg}", line, e.lineno) from None
    except (ValueError, RecursionError) as e:  # a 4300+ digit number, or nesting too deep
        raise ParseError(f"varnishstat -j output is not JSON we can read ({type(e).__name__})", text[:120]) from None
    if not isinstance(doc, dict):
        raise ParseError("varnishstat -j output is not a JSON object")
    # >= 6.5 nests the counters; older versions put them next to "timestamp".
    counters: Any = doc.get("counters", doc)
    if not isinstance(counters, dict):
        raise ParseError('varnishstat -j "counters" is not an object')
    values: dict[str, int] = {}
    for name, entry in counters.items():
        if not isinstance(entry, dict) or "value" not in entry:
            continue  # "timestamp", "version" and the like
        value = entry["value"]
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**64) < value < 2**64:
            raise ParseError(f"varnishstat counter {name} is not an integer", f'"{name}": {value!r}')
        values[name] = value
    return _counters(values)


def parse_varnishstat_text(text: str) -> CacheCounters:
    values: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _LINE_RE.match(raw.strip())
        if not m:
            raise ParseError("not a varnishstat -1 line", raw, lineno)
        values[m.group(1)] = int(m.group(2))
    return _counters(values)


def parse_varnishstat(text: str) -> CacheCounters:
    """Either form; JSON is told by its opening brace."""
    if text.lstrip().startswith("{"):
        return parse_varnishstat_json(text)
    return parse_varnishstat_text(text)
