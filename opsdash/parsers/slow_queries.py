"""Slow-query statistics as the database clients print them: text in, typed records out.

PostgreSQL: ``psql --csv -t`` output of queries on ``pg_stat_statements``,
``pg_stat_statements_info`` and the server (start time, clock, version,
connections). MariaDB/MySQL: ``mariadb -B -N`` output of
``performance_schema.events_statements_summary_by_digest`` and of the server's
status. The SQL that produces these lines is in opsdash/kinds/databases.py; the
column orders are declared there and here together (``PG_*``/``MY_*`` docstrings).

Statement text is shown, so it passes ``normalise``: both servers already put
placeholders for constants in planned statements ($1, ?), but PostgreSQL before
16 keeps utility statements verbatim (``ALTER ROLE x PASSWORD 'secret'``), so
every quoted literal and bare number left in the text is replaced too, and a
literal cut off by truncation drops the rest of the text.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from ..errors import ParseError

__all__ = [
    "Statement", "Statements", "PgServer", "PgInfo", "MyServer", "TEXT_MAX",
    "first_error", "normalise", "parse_my_digests", "parse_my_server", "parse_pg_info",
    "parse_pg_server", "parse_pg_statements",
]

TEXT_MAX = 200  # characters of statement text kept (the SQL asks for more, then we normalise)
_MAX_ROWS = 5000  # statements read at most (the SQL asks for 1000)


@dataclass(frozen=True)
class Statement:
    """One normalised statement's cumulative counters since its entry was created."""

    key: str  # queryid / digest
    calls: int
    total_ms: float
    rows: int
    text: str
    first_seen: float | None = None  # epoch seconds (MariaDB FIRST_SEEN); None where unknown


@dataclass(frozen=True)
class Statements:
    """The statements read, and the server's totals over every entry (read or not)."""

    items: tuple[Statement, ...]
    total_calls: int | None
    total_ms: float | None
    total_rows: int | None
    entries: int | None  # how many entries the server holds


@dataclass(frozen=True)
class PgServer:
    start_time: float
    now: float
    version: str
    connections: int


@dataclass(frozen=True)
class PgInfo:
    stats_reset: float | None
    dealloc: int


@dataclass(frozen=True)
class MyServer:
    now: float
    uptime_s: float
    version: str
    connections: int | None
    performance_schema: bool


# --- text -------------------------------------------------------------------------

# One pass, left to right: identifiers stay, literals and numbers go, an unclosed literal ends the text.
_TOKEN = re.compile(
    r"""(?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`)"""
    r"""|(?P<lit>(?:\b[EeBbXxNnUu]&?)?'(?:[^'\\]|''|\\.)*'|\$(?P<tag>[A-Za-z_]\w*|)\$.*?\$(?P=tag)\$)"""
    r"""|(?P<open>'|\$(?:[A-Za-z_]\w*)?\$)"""
    r"""|(?P<num>(?<![\w$.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))""",
    re.S,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def normalise(text: str, max_len: int = TEXT_MAX) -> str:
    """Statement text fit to show: one line, literals and numbers as ``?``, at most ``max_len``.
    Identifiers (double-quoted, backquoted) stay: they name tables, not values. A literal
    the server (or the SQL's left()) cut off ends the text: what follows may be its content."""
    t = _CONTROL.sub(" ", text)
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(t):
        out.append(t[pos:m.start()])
        pos = m.end()
        if m.group("ident") is not None:
            out.append(m.group("ident"))
        elif m.group("open") is not None:
            out.append("?…")
            pos = len(t)
            break
        else:
            out.append("?")
    out.append(t[pos:])
    t = " ".join("".join(out).split())
    return t if len(t) <= max_len else t[: max_len - 1] + "…"


def first_error(stderr: str, max_len: int = 200) -> str:
    """The one line of a client's stderr that says what went wrong: its first ERROR/FATAL/
    error line without the client's prefix, else its first line."""
    lines = [ln for ln in (" ".join(x.split()) for x in stderr.splitlines()) if ln]
    pick = next((ln for ln in lines if re.search(r"\b(ERROR|FATAL|error|denied)\b", ln)), lines[0] if lines else "")
    pick = re.sub(r"^(sh|bash|dash): (line )?\d+: ", "", pick)  # "sh: 10: psql: not found"
    pick = re.sub(r"^(psql|mariadb|mysql): (error: )?", "", pick)
    pick = re.sub(r"^(ERROR|FATAL):\s*", "", pick)
    pick = re.sub(r"^ERROR \d+ \(\w+\)( at line \d+)?: ", "", pick)
    pick = _CONTROL.sub(" ", pick)
    return pick if len(pick) <= max_len else pick[: max_len - 1] + "…"


# --- numbers --------------------------------------------------------------------------


def _num(s: str, what: str, line: int) -> float:
    s = s.strip()
    if s in ("", "NULL", "\\N"):
        return 0.0
    try:
        v = float(s)
    except ValueError:
        raise ParseError(f"line {line}: {what} is not a number: {s[:40]!r}") from None
    if v != v or v in (float("inf"), float("-inf")) or v < 0:
        raise ParseError(f"line {line}: {what} out of range: {s[:40]!r}")
    return v


def _opt(s: str, what: str, line: int) -> float | None:
    return None if s.strip() in ("", "NULL", "\\N") else _num(s, what, line)


def _csv_rows(text: str, width: int, what: str) -> list[list[str]]:
    try:
        rows = [r for r in csv.reader(io.StringIO(text.replace("\x00", ""))) if r]
    except csv.Error as e:
        raise ParseError(f"{what}: not CSV: {e}") from None
    for i, r in enumerate(rows, 1):
        if len(r) != width:
            raise ParseError(f"{what} line {i}: expected {width} fields, got {len(r)}")
    return rows


def _tsv_rows(text: str, width: int, what: str) -> list[list[str]]:
    rows = [ln.split("\t") for ln in text.splitlines() if ln.strip()]
    for i, r in enumerate(rows, 1):
        if len(r) != width:
            raise ParseError(f"{what} line {i}: expected {width} fields, got {len(r)}")
    return rows


_MY_ESCAPES = {"n": "\n", "t": "\t", "0": "\x00", "\\": "\\", "r": "\r", "b": "\b", "Z": "\x1a"}


def _my_unescape(s: str) -> str:
    """mariadb -B escapes newline, tab, backslash and NUL in values (unless --raw)."""
    return re.sub(r"\\(.)", lambda m: _MY_ESCAPES.get(m.group(1), m.group(1)), s)


def _statements(rows: list[list[str]], what: str, first_seen: bool) -> Statements:
    """Rows (key, calls, total, rows[, first_seen], text), the first key "total" being the
    totals row (its text the number of entries)."""
    items: dict[str, Statement] = {}
    tc = tm = tr = ent = None
    for i, r in enumerate(rows[:_MAX_ROWS], 1):
        key = r[0].strip()
        calls, total, nrows = _num(r[1], "calls", i), _num(r[2], "total time", i), _num(r[3], "rows", i)
        if key == "total":
            tc, tm, tr = int(calls), total, int(nrows)
            ent = int(_num(r[-1], "entries", i))
            continue
        if not key or len(key) > 64 or not re.fullmatch(r"[-\w]+", key):
            raise ParseError(f"{what} line {i}: bad statement id {key[:40]!r}")
        fs = _opt(r[4], "first seen", i) if first_seen else None
        st = Statement(key, int(calls), total, int(nrows), normalise(r[-1]), fs)
        items.setdefault(key, st)  # the SQL lists a statement twice when it is in both top lists
    return Statements(tuple(items.values()), tc, tm, tr, ent)


# --- PostgreSQL ---------------------------------------------------------------------


def parse_pg_server(text: str) -> PgServer:
    """PG_SERVER: start epoch, now epoch, server_version, client connections."""
    rows = _csv_rows(text, 4, "postgresql server")
    if len(rows) != 1:
        raise ParseError(f"postgresql server: expected one row, got {len(rows)}")
    r = rows[0]
    return PgServer(_num(r[0], "start time", 1), _num(r[1], "now", 1), _CONTROL.sub(" ", r[2])[:40].strip(),
                    int(_num(r[3], "connections", 1)))


def parse_pg_info(text: str) -> PgInfo:
    """PG_INFO: stats_reset epoch, dealloc (pg_stat_statements_info, PostgreSQL 14+)."""
    rows = _csv_rows(text, 2, "pg_stat_statements_info")
    if len(rows) != 1:
        raise ParseError(f"pg_stat_statements_info: expected one row, got {len(rows)}")
    return PgInfo(_opt(rows[0][0], "stats_reset", 1), int(_num(rows[0][1], "dealloc", 1)))


def parse_pg_statements(text: str) -> Statements:
    """PG_STATEMENTS: queryid, calls, total_exec_time (ms), rows, query."""
    return _statements(_csv_rows(text, 5, "pg_stat_statements"), "pg_stat_statements", first_seen=False)


# --- MariaDB / MySQL ----------------------------------------------------------------


def parse_my_server(text: str) -> MyServer:
    """MY_SERVER: name<TAB>value lines: version, now, performance_schema, Uptime, Threads_connected."""
    kv: dict[str, str] = {}
    for i, r in enumerate(_tsv_rows(text, 2, "mariadb server"), 1):
        kv[r[0].strip().lower()] = r[1].strip()
    for need in ("now", "uptime", "version"):
        if need not in kv:
            raise ParseError(f"mariadb server: no {need}")
    conn = kv.get("threads_connected")
    return MyServer(_num(kv["now"], "now", 0), _num(kv["uptime"], "Uptime", 0),
                    _CONTROL.sub(" ", kv["version"])[:40].strip(),
                    int(_num(conn, "Threads_connected", 0)) if conn is not None else None,
                    kv.get("performance_schema", "1") not in ("0", "OFF", "off"))


def parse_my_digests(text: str) -> Statements:
    """MY_DIGESTS: DIGEST, COUNT_STAR, SUM_TIMER_WAIT (picoseconds), rows sent+affected,
    FIRST_SEEN epoch, DIGEST_TEXT; the totals row first. Times become ms."""
    rows = _tsv_rows(text, 6, "events_statements_summary_by_digest")
    for r in rows:
        r[2] = str(_num(r[2], "SUM_TIMER_WAIT", 0) / 1e9) if r[2].strip() not in ("", "NULL") else "0"
        r[5] = _my_unescape(r[5])
    return _statements(rows, "events_statements_summary_by_digest", first_seen=True)
