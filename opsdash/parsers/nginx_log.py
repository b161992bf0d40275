"""nginx access-log lines carrying ``$upstream_cache_status`` -> counts.

Two log formats are read (see tests/fixtures/configs/nginx-cache-fixture.conf):
- plain, with the status as a ``key=VALUE`` field: ``... ucs=HIT``
  (also accepted: ``cache=``, ``cache_status=``, ``upstream_cache_status=``);
- ``escape=json``, one object per line, the status under ``"cache"`` (or
  ``"upstream_cache_status"``, ``"cache_status"``, ``"ucs"``); nginx writes an
  empty value there as ``""`` where the plain format writes ``-``.

What counts as a hit: HIT, STALE, UPDATING and REVALIDATED were answered from
the cache. MISS and EXPIRED went to the upstream because the cache could not
answer. BYPASS (the config told nginx to skip the cache) and ``-`` (not proxied
or not cacheable) say nothing about how well the cache works, so they are
counted but belong to neither side of the hit rate.

The collector feeds only the lines that are new since its last poll; this
module never touches files.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping

from ..errors import ParseError
from ..model import CacheCounters

__all__ = ["CacheStatusCounts", "cache_status_of_line", "parse_cache_status_lines"]

_FIELD_FOR_STATUS = {
    "HIT": "hit",
    "MISS": "miss",
    "EXPIRED": "expired",
    "STALE": "stale",
    "UPDATING": "updating",
    "REVALIDATED": "revalidated",
    "BYPASS": "bypass",
    "-": "none",
}
_PLAIN_RE = re.compile(r'(?:^|\s)(?:ucs|cache|cache_status|upstream_cache_status)=("?)([A-Za-z]*|-)\1(?=\s|$)')
_JSON_KEYS = ("cache", "upstream_cache_status", "cache_status", "ucs")


@dataclass(frozen=True, slots=True)
class CacheStatusCounts:
    hit: int = 0
    miss: int = 0
    expired: int = 0
    stale: int = 0
    updating: int = 0
    revalidated: int = 0
    bypass: int = 0
    none: int = 0  # "-": not proxied or not cacheable

    @property
    def hits(self) -> int:
        return self.hit + self.stale + self.updating + self.revalidated

    @property
    def misses(self) -> int:
        return self.miss + self.expired

    @property
    def requests(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def __add__(self, other: "CacheStatusCounts") -> "CacheStatusCounts":
        return CacheStatusCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_counters(self, uptime_s: float | None = None) -> CacheCounters:
        return CacheCounters(hits=self.hits, misses=self.misses, ops=self.requests, uptime_s=uptime_s)

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CacheStatusCounts":
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})


def _status(value: str, line: str, lineno: int | None) -> str:
    status = value.upper() if value else "-"
    if status not in _FIELD_FOR_STATUS:
        raise ParseError(f"unknown upstream cache status {value!r}", line, lineno)
    return status


def cache_status_of_line(line: str, lineno: int | None = None) -> str:
    """The cache status of one log line: HIT, MISS, ..., or "-"."""
    text = line.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):  # JSONDecodeError, a 4300+ digit number, nesting too deep
            raise ParseError("access log line is not valid JSON", line, lineno) from None
        if isinstance(doc, dict):
            for key in _JSON_KEYS:
                value = doc.get(key)
                if isinstance(value, str):
                    return _status(value, line, lineno)
        raise ParseError("JSON access log line has no cache status field", line, lineno)
    matches = _PLAIN_RE.findall(text)
    if not matches:
        raise ParseError("access log line has no ucs=/cache= field", line, lineno)
    return _status(matches[-1][1], line, lineno)


def parse_cache_status_lines(lines: Iterable[str]) -> CacheStatusCounts:
    """Count the cache statuses of complete log lines; blank lines are skipped."""
    counts = dict.fromkeys(_FIELD_FOR_STATUS.values(), 0)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        counts[_FIELD_FOR_STATUS[cache_status_of_line(line, lineno)]] += 1
    return CacheStatusCounts(**counts)
