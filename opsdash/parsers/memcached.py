"""memcached text-protocol ``stats`` reply -> CacheCounters.

The reply is ``STAT <name> <value>`` lines with CRLF, closed by ``END``.
Hit rate uses get_hits / (get_hits + get_misses): ``cmd_get`` counts keys
requested (a multi-get of 10 keys is 10), and get_misses already includes
expired and flushed items, so those are not added again.
"""

from __future__ import annotations

from ..errors import ParseError, ProbeError
from ..model import CacheCounters

__all__ = ["memcached_stats_fields", "parse_memcached_stats"]

# Replies memcached gives instead of stats; understood, so a ProbeError.
_ERRORS = ("ERROR", "CLIENT_ERROR", "SERVER_ERROR")


def memcached_stats_fields(text: str) -> dict[str, str]:
    """Every STAT of the reply. Without the closing END the read was cut short."""
    fields: dict[str, str] = {}
    ended = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if ended:
            raise ParseError("text after END of a memcached stats reply", raw, lineno)
        if line == "END":
            ended = True
            continue
        if line.split(" ", 1)[0] in _ERRORS:
            raise ProbeError(f"memcached replied with an error: {line}")
        parts = line.split(" ", 2)
        if len(parts) != 3 or parts[0] != "STAT":
            raise ParseError("not a memcached STAT line", raw, lineno)
        fields[parts[1]] = parts[2]
    if not ended:
        raise ParseError("memcached stats reply has no END (output truncated?)")
    return fields


def _int(fields: dict[str, str], key: str) -> int:
    if key not in fields:
        raise ParseError(f"memcached stats has no {key}")
    try:
        n = int(fields[key])
    except ValueError:
        raise ParseError(f"memcached stat {key} is not an integer", f"STAT {key} {fields[key]}") from None
    if not -(2**64) < n < 2**64:  # float() of a longer one overflows
        raise ParseError(f"memcached stat {key} is out of range", f"STAT {key} {fields[key][:40]}")
    return n


def parse_memcached_stats(text: str) -> CacheCounters:
    fields = memcached_stats_fields(text)
    return CacheCounters(
        hits=_int(fields, "get_hits"),
        misses=_int(fields, "get_misses"),
        # Operations as a user sees them: reads plus writes.
        ops=_int(fields, "cmd_get") + _int(fields, "cmd_set"),
        uptime_s=float(_int(fields, "uptime")),
    )
