"""Redis ``INFO`` output -> CacheCounters.

Accepts what ``redis-cli INFO <section>`` prints (``key:value`` lines under
``# Section`` headers, CRLF kept when piped) and the raw RESP reply a plain
socket gets (``$<len>\\r\\n<payload>\\r\\n``, possibly several replies in a row,
with ``+OK`` for AUTH/QUIT). Several sections may be concatenated: the
collector asks for ``server`` (uptime) and ``stats`` (hits, misses, commands).

Hit rate is keyspace_hits / (keyspace_hits + keyspace_misses): those count key
lookups only, which is what a cache user means by "hit".
"""

from __future__ import annotations

import re

from ..errors import ParseError, ProbeError
from ..model import CacheCounters

__all__ = ["parse_redis_info", "redis_info_fields"]

# Error replies redis-cli prints on stdout with rc 0 (e.g. a missing or wrong
# password gives "NOAUTH Authentication required."). They are understood, so
# they become a ProbeError with Redis' own words, not a ParseError.
_ERROR_RE = re.compile(r"^-?(ERR|NOAUTH|WRONGPASS|NOPERM|LOADING|MASTERDOWN|BUSY|MISCONF|READONLY)\b.*")
_FIELD_RE = re.compile(r"^([A-Za-z0-9_]+):(.*)$")
_BULK_RE = re.compile(rb"\$(-?[0-9]{1,18})\r?\n")
_RESP_START_RE = re.compile(r"[$+]|-[A-Z]")  # redis-cli output never starts like this


def _unframe_resp(text: str) -> str:
    """The payloads of a run of RESP replies, joined. Strict: a short or
    mis-framed reply (a truncated read) is a ParseError, not partial counters."""
    data = text.encode("utf-8")
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if data.startswith(b"+", pos):  # simple string (+OK from AUTH/QUIT)
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
            continue
        if data.startswith(b"-", pos):
            end = data.find(b"\n", pos)
            line = data[pos : end if end >= 0 else len(data)].decode("utf-8", "replace").strip()
            raise ProbeError(f"redis replied with an error: {line[1:]}")
        if data[pos : pos + 1] in (b"\r", b"\n"):  # stray line ending between replies
            pos += 1
            continue
        m = _BULK_RE.match(data, pos)
        if not m:
            line = data[pos:].split(b"\n", 1)[0].decode("utf-8", "replace")
            raise ParseError("unexpected text in a RESP reply", line)
        length = int(m.group(1))
        start = m.end()
        if length < 0:  # null bulk string
            pos = start
            continue
        if start + length > len(data):
            raise ParseError(
                f"RESP reply is truncated: announced {length} bytes, got {len(data) - start}",
                m.group(0).decode().strip(),
            )
        out.append(data[start : start + length])
        pos = start + length
        if data.startswith(b"\r\n", pos):
            pos += 2
    return "\r\n".join(p.decode("utf-8", "replace") for p in out)


def redis_info_fields(text: str) -> dict[str, str]:
    """Every ``key:value`` of an INFO reply (all sections merged)."""
    stripped = text.lstrip()
    if _RESP_START_RE.match(stripped):
        text = _unframe_resp(stripped)
    fields: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _ERROR_RE.match(line):
            raise ProbeError(f"redis replied with an error: {line.lstrip('-')}")
        m = _FIELD_RE.match(line)
        if not m:
            raise ParseError("not a redis INFO line", raw, lineno)
        fields[m.group(1)] = m.group(2)
    return fields


def _int(fields: dict[str, str], key: str, required: bool) -> int | None:
    value = fields.get(key)
    if value is None:
        if required:
            raise ParseError(f"redis INFO has no {key} (ask for the stats section)")
        return None
    try:
        n = int(value)
    except ValueError:
        raise ParseError(f"redis INFO {key} is not an integer", f"{key}:{value}") from None
    if not -(2**64) < n < 2**64:  # float() of a longer one overflows
        raise ParseError(f"redis INFO {key} is out of range", f"{key}:{value[:40]}")
    return n


def parse_redis_info(text: str) -> CacheCounters:
    """``INFO stats`` (+ optionally ``INFO server``), as text or raw RESP."""
    fields = redis_info_fields(text)
    hits = _int(fields, "keyspace_hits", True)
    misses = _int(fields, "keyspace_misses", True)
    assert hits is not None and misses is not None
    uptime = _int(fields, "uptime_in_seconds", False)
    return CacheCounters(
        hits=hits,
        misses=misses,
        ops=_int(fields, "total_commands_processed", False),
        uptime_s=float(uptime) if uptime is not None else None,
    )
