"""Slow database queries: PostgreSQL's pg_stat_statements, MariaDB/MySQL's statement digests.

One ``[[databases]]`` entry is one server, read from one host (``host``: a
configured host, or ``local``) with the database's own client through the one
remote runner: ``psql`` or ``mariadb``/``mysql``, three statements per poll in
``sec`` sections so a refused view does not hide the server's other figures.
The servers keep cumulative counters per normalised statement; a row keeps the
counters of at most ``KEEP`` statements, and the next poll's figures are their
deltas over the time between the two readings (the server's own clock):

- top ``top`` statements by total time and by mean time in the interval
  (normalised text only, see parsers/slow_queries.normalise), their calls, mean,
  total and rows;
- ``db.top_query_mean_ms``: the mean of the statement that took most time;
- ``db.top_query_share``: its share of all statement time;
- ``db.slow_calls_per_s``: calls of statements whose interval mean was at least
  ``slow_ms`` (the servers keep no per-call times; this is what they allow);
- ``db.up``: the server answered;
- ``db.stats_ok``: its statement statistics were read (0: refused or unreadable, the
  row's ``errors`` say why in one line each; the server's own figures still show).

A counter reset is never a spike: a stats reset (``pg_stat_statements_reset()``,
TRUNCATE of the digest table), a server restart (start time or uptime), or any
counter going down makes the interval "counters reset" with no rates at all,
and the counters read become the new baseline.

Credentials: the client's own (``~/.pgpass``, ``~/.my.cnf`` on the host), or a
``dsn_file`` read here with ``ctx.read_file``; its values become the client's
environment inside the script, which travels on the runner's stdin, so they
never show in a process list, a row or a message.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ParseError
from ..model import Sample
from ..parsers import slow_queries as sq
from .base import BuiltinRule, Column, Kind, KeyChecker, Metric, ProbeContext, is_number

__all__ = ["KIND", "DatabaseCheck", "DatabaseRow", "DatabasesKind", "Dsn", "parse_dsn", "script"]

KEEP = 200  # statements whose counters a row keeps for the next delta
FETCH = 500  # statements read per poll: the top FETCH by total time and the top FETCH by mean
ENGINES = ("postgresql", "mariadb")


# --- config -----------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseCheck:
    name: str
    engine: str  # "postgresql" | "mariadb" (MySQL too: the same client options and view)
    host: str = "local"  # where the client runs: a configured host, or "local"
    database: str | None = None
    user: str | None = None
    address: str | None = None  # the server as the client reaches it (TCP); default its local socket
    port: int | None = None
    socket: str | None = None  # PostgreSQL: the socket directory; MariaDB: the socket file
    dsn_file: str | None = None  # a local file: a URI or libpq conninfo, or a password alone
    client: str | None = None  # the client's path on the host (default psql / mariadb, else mysql)
    interval: float = 60.0
    timeout: float = 20.0
    slow_ms: float = 500.0
    top: int = 5

    @property
    def vantage(self) -> tuple[str, ...]:
        return (self.host,)


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or any(c in v for c in "\x00\n\r"):
        raise ValueError("a non-empty string on one line")
    return v


def _engine(v: Any) -> str:
    if v == "mysql":
        return "mariadb"
    if v not in ENGINES:
        raise ValueError('"postgresql" or "mariadb" (or "mysql")')
    return str(v)


def _port(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise ValueError("an integer 1-65535")
    return v


def _positive(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == math.inf:
        raise ValueError("a number above 0")
    return float(v)


def _top(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 20:
        raise ValueError("an integer 1-20")
    return v


# --- what runs on the host ------------------------------------------------------------

# The probe's own statements are marked (PostgreSQL keeps comments in the text) and left out
# of the lists, as are MariaDB's reads of the digest table (its digests drop comments): the
# check does not report itself as the busiest statement of an idle server.
MARK = "/* opsdash */ "
PG_SERVER = (MARK + "SELECT extract(epoch FROM pg_postmaster_start_time()), extract(epoch FROM now()), "
             "current_setting('server_version'), "
             "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')")
PG_INFO = MARK + "SELECT extract(epoch FROM stats_reset), dealloc FROM pg_stat_statements_info"
# One row per queryid (summed over users and databases); the totals row first; the top
# FETCH by total and the top FETCH by mean, so a new slow statement is read at once.
PG_STATEMENTS = (
    MARK + "WITH s AS (SELECT queryid::text AS id, sum(calls) AS calls, sum(total_exec_time) AS total, "
    "sum(rows) AS nrows, min(left(query, 600)) AS q FROM pg_stat_statements "
    f"WHERE queryid IS NOT NULL AND query NOT LIKE '{MARK.strip()}%' GROUP BY queryid) "
    "SELECT 'total', sum(calls), sum(total_exec_time), sum(rows), "
    f"(count(DISTINCT queryid) FILTER (WHERE query NOT LIKE '{MARK.strip()}%'))::text FROM pg_stat_statements "
    f"UNION ALL (SELECT * FROM s ORDER BY total DESC LIMIT {FETCH}) "
    f"UNION (SELECT * FROM s ORDER BY total / greatest(calls, 1) DESC LIMIT {FETCH})"
)
MY_SERVER = ("SELECT 'version', VERSION() UNION ALL SELECT 'now', UNIX_TIMESTAMP(NOW(6)) "
             "UNION ALL SELECT 'performance_schema', @@performance_schema; "
             "SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Threads_connected')")
_MY_FROM = "FROM performance_schema.events_statements_summary_by_digest"
_MY_OWN = ("DIGEST_TEXT LIKE '%events_statements_summary_by_digest%' "
           "OR DIGEST_TEXT LIKE '%@@`performance_schema`%'")
_MY_COLS = ("SELECT DIGEST, SUM(COUNT_STAR) AS c, SUM(SUM_TIMER_WAIT) AS w, SUM(SUM_ROWS_SENT + SUM_ROWS_AFFECTED), "
            f"UNIX_TIMESTAMP(MIN(FIRST_SEEN)), LEFT(MIN(DIGEST_TEXT), 600) {_MY_FROM} WHERE DIGEST IS NOT NULL "
            f"AND NOT ({_MY_OWN}) GROUP BY DIGEST")
MY_DIGESTS = (
    f"SELECT 'total', SUM(COUNT_STAR), SUM(SUM_TIMER_WAIT), SUM(SUM_ROWS_SENT + SUM_ROWS_AFFECTED), 0, "
    f"COUNT(DISTINCT CASE WHEN NOT ({_MY_OWN}) THEN DIGEST END) "
    f"{_MY_FROM}; {_MY_COLS} ORDER BY w DESC LIMIT {FETCH}; {_MY_COLS} ORDER BY SUM(SUM_TIMER_WAIT) / GREATEST(SUM(COUNT_STAR), 1) DESC LIMIT {FETCH}"
)


@dataclass(frozen=True)
class Dsn:
    """What a dsn_file says: connection values, and the password (a secret)."""

    values: Mapping[str, str] = field(default_factory=dict)  # libpq keywords (dbname, host ...)
    password: str | None = None


_PG_ENV = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
           "password": "PGPASSWORD", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
           "sslkey": "PGSSLKEY", "service": "PGSERVICE", "passfile": "PGPASSFILE",
           "target_session_attrs": "PGTARGETSESSIONATTRS", "options": "PGOPTIONS",
           "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME"}
_MY_KEYS = ("host", "port", "dbname", "user", "password", "socket")
_CONNINFO = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")


def parse_dsn(text: str, engine: str) -> Dsn:
    """A dsn_file's text: ``postgresql://``/``mariadb://``/``mysql://`` URI, a libpq
    ``key=value`` conninfo (PostgreSQL), or one line that is only the password.
    ValueError names what is wrong, never a value."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise ValueError(f"expected one line (a URI, key=value pairs or a password), got {len(lines)}")
    s = lines[0]
    allowed = _PG_ENV if engine == "postgresql" else _MY_KEYS
    values: dict[str, str] = {}
    if "://" in s:
        u = urlsplit(s)
        schemes = ("postgresql", "postgres") if engine == "postgresql" else ("mariadb", "mysql")
        if u.scheme not in schemes:
            raise ValueError(f"a {schemes[0]}:// URI for engine {engine}, not {u.scheme[:20]}://")
        try:
            port = u.port
        except ValueError:
            raise ValueError("the URI's port is not a number") from None
        parts = {"user": unquote(u.username or ""), "password": unquote(u.password or ""),
                 "host": unquote(u.hostname or ""), "port": str(port or ""), "dbname": unquote(u.path.lstrip("/"))}
        values.update({k: v for k, v in parts.items() if v})
        for k, v in parse_qsl(u.query):
            values[k] = v
    elif "=" in s and engine == "postgresql":
        pos = 0
        while pos < len(s):
            m = _CONNINFO.match(s, pos)
            if not m or m.end() == pos:
                raise ValueError(f"not key=value at character {pos + 1}")
            v = m.group(2)
            values[m.group(1)] = re.sub(r"\\(.)", r"\1", v[1:-1]) if v.startswith("'") else v
            pos = m.end()
            while pos < len(s) and s[pos].isspace():
                pos += 1
    else:
        return Dsn({}, s)
    for k in values:
        if k not in allowed:
            raise ValueError(f"unknown key {k[:30]!r}; expected one of: {', '.join(allowed)}")
    password = values.pop("password", None)
    return Dsn(values, password or None)


def _client(check: DatabaseCheck) -> tuple[str, str]:
    """Shell words that set ``$c`` to the client, and the name said in messages."""
    if check.client:
        return f"c={shlex.quote(check.client)}\n", check.client.rsplit("/", 1)[-1]
    if check.engine == "postgresql":
        return "c=psql\n", "psql"
    return "c=$(command -v mariadb || command -v mysql || echo mariadb)\n", "mariadb"


def _conn(check: DatabaseCheck, dsn: Dsn | None) -> tuple[list[str], dict[str, str]]:
    """The client's connection options and environment (the password only in the latter).
    The check's keys win over the dsn_file's values (a password-only file needs them)."""
    args: list[str] = []
    env: dict[str, str] = {}
    pg = check.engine == "postgresql"
    vals: dict[str, Any] = dict(dsn.values) if dsn else {}
    for key, cfg in (("host", check.socket or check.address), ("port", check.port), ("dbname", check.database),
                     ("user", check.user)):
        if cfg is not None:
            vals[key] = str(cfg)
    if pg:
        env.update({_PG_ENV[k]: v for k, v in vals.items()})
        if dsn and dsn.password:
            env["PGPASSWORD"] = dsn.password
        env.setdefault("PGCONNECT_TIMEOUT", str(max(2, int(check.timeout / 3))))
        env.setdefault("PGAPPNAME", "opsdash")
        # A poll must not hold the server for longer than it can wait.
        env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + f" -c statement_timeout={int(check.timeout * 1000 / 3)}").strip()
    else:
        opt = {"host": "--host", "port": "--port", "dbname": "--database", "user": "--user", "socket": "--socket"}
        if check.socket:
            vals.pop("host", None)
            vals["socket"] = check.socket
        args += [f"{opt[k]}={v}" for k, v in vals.items()]
        if dsn and dsn.password:
            env["MYSQL_PWD"] = dsn.password
        args.append(f"--connect-timeout={max(2, int(check.timeout / 3))}")
    return args, env


def script(check: DatabaseCheck, dsn: Dsn | None = None) -> str:
    """The ``sec`` body run on the host: server, info (PostgreSQL) and statements sections."""
    args, env = _conn(check, dsn)
    set_c, _ = _client(check)
    lines = [set_c.rstrip("\n")]
    lines += [f"{k}={shlex.quote(v)}; export {k}" for k, v in env.items()]
    conn = " ".join(shlex.quote(a) for a in args)
    if check.engine == "postgresql":
        base = f'"$c" -X -q -w --csv -t -v ON_ERROR_STOP=1 {conn}'.rstrip()
        lines += [f"sec server {base} -c {shlex.quote(PG_SERVER)}",
                  f"sec info {base} -c {shlex.quote(PG_INFO)}",
                  f"sec statements {base} -c {shlex.quote(PG_STATEMENTS)}"]
    else:
        base = f'"$c" -B -N {conn}'.rstrip()
        lines += [f"sec server {base} -e {shlex.quote(MY_SERVER)}",
                  f"sec statements {base} -e {shlex.quote(MY_DIGESTS)}"]
    return "\n".join(lines) + "\n"


# --- the row ------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseRow:
    engine: str
    up: bool
    t: float
    reason: str | None = None  # why the server could not be read at all; else its errors, joined
    errors: tuple[str, ...] = ()  # what was refused; the other figures stand
    version: str | None = None
    connections: int | None = None
    uptime_s: float | None = None
    first: bool = False  # no earlier reading: rates from the next poll
    reset: bool = False  # counters reset in this interval: no rates
    interval_s: float | None = None
    calls_per_s: float | None = None
    slow_calls_per_s: float | None = None
    top_query_mean_ms: float | None = None
    top_query_share: float | None = None
    top_total: tuple[dict[str, Any], ...] = ()
    top_mean: tuple[dict[str, Any], ...] = ()
    untracked: int = 0  # statements read that had no earlier counters to compare with
    slow_ms: float = 500.0
    # For the next delta: the server's marks and the kept counters {key: [calls, ms, rows, first_seen]}.
    marks: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.up and not self.errors

    @property
    def stats_ok(self) -> bool | None:
        return None if not self.up else not self.errors

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["stats_ok"] = self.stats_ok
        d["top_total"] = [dict(q) for q in self.top_total]
        d["top_mean"] = [dict(q) for q in self.top_mean]
        d["errors"] = list(self.errors)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "DatabaseRow":
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("top_total", "top_mean", "errors"):
            kw[k] = tuple(kw.get(k) or ())
        return cls(**{"engine": "", "up": False, "t": 0.0, **kw})

    def samples(self, t: float, target: str, labels: Mapping[str, str]) -> list[Sample]:
        lb = dict(labels)
        out = [Sample(t, target, "db.up", 1.0 if self.up else 0.0, lb)]
        if self.up:
            out.append(Sample(t, target, "db.stats_ok", 0.0 if self.errors else 1.0, lb))
        for metric, v in (("db.top_query_mean_ms", self.top_query_mean_ms),
                          ("db.slow_calls_per_s", self.slow_calls_per_s),
                          ("db.top_query_share", self.top_query_share)):
            if is_number(v):
                out.append(Sample(t, target, metric, float(v), lb))
        return out


# --- deltas ---------------------------------------------------------------------------


def _was_reset(engine: str, marks: dict[str, Any], pm: Mapping[str, Any], st: sq.Statements,
               pc: Mapping[str, list[Any]]) -> bool:
    """Did the counters start again since the previous reading? Any sign is enough."""
    if engine == "postgresql":
        if not is_number(pm.get("start")) or abs(marks["start"] - pm["start"]) > 1e-3:
            return True  # a restart (pg_stat_statements keeps its counters over one; the start says so)
        if marks.get("stats_reset") != pm.get("stats_reset") and marks.get("stats_reset") is not None:
            return True
        evicted = marks.get("dealloc") != pm.get("dealloc")
    else:
        if not is_number(pm.get("start")) or abs(marks["start"] - pm["start"]) > 5.0:
            return True  # now - Uptime: whole seconds on two clocks reads, so a few seconds of slack
        if is_number(pm.get("uptime")) and marks["uptime"] < pm["uptime"]:
            return True  # restarted within that slack of its last start
        evicted = False
    for s in st.items:
        p = pc.get(s.key)
        if p is None:
            continue
        if s.calls < p[0] or s.total_ms < p[1] - 1e-6:
            return True
        if s.first_seen is not None and is_number(p[3] if len(p) > 3 else None) and abs(s.first_seen - p[3]) > 1:
            return True  # the entry was dropped and made again (TRUNCATE) since
    tot = pm.get("totals")
    if not evicted and isinstance(tot, list) and st.total_calls is not None and is_number(tot[0]):
        if st.total_calls < tot[0] or (st.total_ms or 0.0) < tot[1] - 1e-6:
            return True
    return False


def _q(text: str, calls: int, total_ms: float, rows: int) -> dict[str, Any]:
    return {"text": text, "calls": calls, "mean_ms": round(total_ms / calls, 3), "total_ms": round(total_ms, 3),
            "rows": rows}


def _interval(check: DatabaseCheck, marks: dict[str, Any], st: sq.Statements, prev: Mapping[str, Any] | None,
              ) -> dict[str, Any]:
    """The row's interval figures and the counters to keep, from this reading and the last."""
    pm = (prev or {}).get("marks") or {}
    pc = (prev or {}).get("counters")
    out: dict[str, Any] = {}
    deltas: dict[str, tuple[int, float, int]] = {}
    elapsed = marks["now"] - pm["now"] if is_number(pm.get("now")) else None
    if not isinstance(pc, dict) or prev is None or prev.get("engine") != check.engine or elapsed is None:
        out["first"] = True
    elif elapsed <= 0 or _was_reset(check.engine, marks, pm, st, pc):
        out["reset"] = True
    else:
        complete = bool(pm.get("complete"))
        untracked = 0
        for s in st.items:
            p = pc.get(s.key)
            if p is not None:
                d = (s.calls - int(p[0]), s.total_ms - float(p[1]), s.rows - int(p[2]))
            elif complete or (s.first_seen is not None and s.first_seen >= pm["now"] - 1):
                d = (s.calls, s.total_ms, s.rows)  # made since the last reading: all of it is new
            else:
                untracked += 1  # kept out of the last reading's counters: known from the next
                continue
            if d[0] > 0:
                deltas[s.key] = (d[0], max(0.0, d[1]), max(0, d[2]))
        text = {s.key: s.text for s in st.items}
        by_total = sorted(deltas, key=lambda k: (-deltas[k][1], k))
        by_mean = sorted(deltas, key=lambda k: (-deltas[k][1] / deltas[k][0], k))
        tracked_ms = sum(d[1] for d in deltas.values())
        tot = pm.get("totals")
        all_ms = tracked_ms
        all_calls = sum(d[0] for d in deltas.values())
        if isinstance(tot, list) and st.total_ms is not None and is_number(tot[1]):
            # The server's totals cover statements not read; evictions can make them smaller.
            all_ms = max(tracked_ms, st.total_ms - tot[1])
            all_calls = max(all_calls, (st.total_calls or 0) - int(tot[0]))
        slow = sum(d[0] for d in deltas.values() if d[1] / d[0] >= check.slow_ms)
        out.update(
            interval_s=round(elapsed, 3), untracked=untracked,
            calls_per_s=round(all_calls / elapsed, 4), slow_calls_per_s=round(slow / elapsed, 4),
            top_total=tuple(_q(text[k], *deltas[k]) for k in by_total[: check.top]),
            top_mean=tuple(_q(text[k], *deltas[k]) for k in by_mean[: check.top]),
            top_query_mean_ms=round(deltas[by_total[0]][1] / deltas[by_total[0]][0], 3) if by_total else 0.0,
            top_query_share=round(min(1.0, deltas[by_total[0]][1] / all_ms), 4) if by_total and all_ms > 0 else None,
        )
    # Keep the counters of the statements active in this interval first, then the biggest.
    by_key = {s.key: s for s in st.items}
    order = sorted(deltas, key=lambda k: -deltas[k][1])
    order += [s.key for s in sorted(st.items, key=lambda s: -s.total_ms) if s.key not in deltas]
    # Unrounded: a rounded-up total would read as a counter going down next time.
    out["counters"] = {k: [by_key[k].calls, by_key[k].total_ms, by_key[k].rows, by_key[k].first_seen]
                       for k in order[:KEEP]}
    marks["totals"] = [st.total_calls, st.total_ms, st.total_rows]
    marks["complete"] = st.entries is not None and st.entries <= KEEP and len(st.items) >= st.entries
    return out


# --- the kind -------------------------------------------------------------------------

_RUNBOOK_MEAN = (
    "Find the statement: the host's Health drill-down, Database section (top by total time). "
    "PostgreSQL: psql -X -c \"SELECT queryid, calls, round(mean_exec_time) AS mean_ms, "
    "round(total_exec_time) AS total_ms, left(query, 100) FROM pg_stat_statements ORDER BY total_exec_time DESC "
    "LIMIT 5\"; run EXPLAIN (ANALYZE, BUFFERS) on it with real values (in a transaction you roll back, "
    "or on a replica, if it writes): a Seq Scan on a big table wants an index, estimates far from the actual "
    "rows want ANALYZE on the table; waits: SELECT pid, wait_event_type, wait_event, now() - query_start, "
    "left(query, 80) FROM pg_stat_activity WHERE state <> 'idle' ORDER BY 4 DESC. "
    "MariaDB/MySQL: SHOW FULL PROCESSLIST; SELECT DIGEST_TEXT, COUNT_STAR, AVG_TIMER_WAIT/1e9 AS mean_ms FROM "
    "performance_schema.events_statements_summary_by_digest ORDER BY SUM_TIMER_WAIT DESC LIMIT 5; "
    "ANALYZE FORMAT=JSON (EXPLAIN FORMAT=JSON on MySQL) the statement; SHOW ENGINE INNODB STATUS for lock waits"
)
_RUNBOOK_SLOW = (
    "Many calls of statements slower than the check's slow_ms: the host's Health drill-down, Database section "
    "(top by mean time). Is it one statement (a new release, a lost index: EXPLAIN (ANALYZE, BUFFERS) / "
    "ANALYZE FORMAT=JSON it) or all of them (the server: vmstat 1, iostat -x 1; PostgreSQL: SELECT "
    "wait_event_type, count(*) FROM pg_stat_activity WHERE state = 'active' GROUP BY 1; MariaDB: SHOW FULL "
    "PROCESSLIST, SHOW ENGINE INNODB STATUS)? Lock waits: PostgreSQL SELECT pid, pg_blocking_pids(pid), "
    "left(query, 80) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0"
)
_RUNBOOK_STATS = (
    "The row's error names the view and what was refused. PostgreSQL: is the extension there? psql -X -d DB -c "
    "\"SELECT * FROM pg_extension WHERE extname = 'pg_stat_statements'\"; SHOW shared_preload_libraries; (add "
    "pg_stat_statements, restart, CREATE EXTENSION pg_stat_statements); the check's user: GRANT pg_read_all_stats "
    "TO opsdash. MariaDB/MySQL: SELECT @@performance_schema (performance_schema = ON in my.cnf, restart); "
    "SHOW GRANTS FOR 'opsdash'@'host'; GRANT SELECT ON performance_schema.* TO 'opsdash'@'host'"
)
_RUNBOOK_DOWN = (
    "Run the client as the check does from its host (psql -X -c 'SELECT 1' / mariadb -e 'SELECT 1' with the "
    "check's options): refused (the server is down: systemctl status postgresql / mariadb, its log), "
    "authentication (~/.pgpass, ~/.my.cnf or the dsn_file), or a timeout (max_connections reached: "
    "SELECT count(*) FROM pg_stat_activity; SHOW STATUS LIKE 'Threads_connected')?"
)


# No clear of its own: a check's slow_ms moves warn (say to 50 ms), and a fixed clear of
# 400 ms would then sit above it. It recovers at the warning threshold.
def _slow_mean_override(check: Any) -> tuple[float | None, float | None] | None:
    ms = check.slow_ms
    return None if ms == DatabaseCheck.slow_ms else (ms, 4 * ms)


def _hint(engine: str, err: str) -> str:
    """What to do about the commonest refusals, appended to the one line."""
    low = err.lower()
    if "shared_preload_libraries" in low:
        return " (add pg_stat_statements to shared_preload_libraries and restart)"
    if 'relation "pg_stat_statements' in low and "does not exist" in low:
        return " (CREATE EXTENSION pg_stat_statements in this database)"
    if engine == "postgresql" and "permission denied" in low:
        return " (GRANT pg_read_all_stats, or SELECT on the view, to the check's user)"
    if engine == "mariadb" and ("denied" in low):
        return " (GRANT SELECT ON performance_schema.* TO the check's user)"
    return ""


class DatabasesKind(Kind):
    name: ClassVar[str] = "db"
    section: ClassVar[str] = "databases"
    title: ClassVar[str] = "Database"
    pane: ClassVar[str] = "health"  # a section of the host's drill-down, not a pane of its own (docs/config.md)
    up_metric: ClassVar[str | None] = "db.up"
    row_type: ClassVar[Any] = DatabaseRow
    # The Health pane has no slots for check rows; the columns name the figures whose rules
    # give a working row its level (once, the handover), as in every kind.
    columns: ClassVar[tuple[Column, ...]] = (
        Column("stats", "stats_ok", "", "db.stats_ok"),
        Column("mean", "top_query_mean_ms", "ms", "db.top_query_mean_ms"),
        Column("slow", "slow_calls_per_s", "", "db.slow_calls_per_s"),
    )
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("db.up", "database answers", "bool", "1 when the server answered the check's client, else 0",
               words=("answers", "does not answer")),
        Metric("db.stats_ok", "statement statistics readable", "bool",
               "1 when pg_stat_statements / the digest table was read, 0 when refused or unreadable",
               words=("reads statement statistics", "cannot read statement statistics")),
        Metric("db.top_query_mean_ms", "top query mean", "ms",
               "mean time per call in the interval of the statement that took most time"),
        Metric("db.slow_calls_per_s", "slow calls per second", "",
               "calls per second of statements whose mean in the interval was at least the check's slow_ms"),
        Metric("db.top_query_share", "top query share of time", "frac",
               "share of all statement time in the interval spent in the top statement (0-1)"),
    )
    rules: ClassVar[tuple[BuiltinRule, ...]] = (
        BuiltinRule(name="db-down", metric="db.up", op="<", crit=0.5, for_s=60,
                    description="the database check's client gets no answer from the server",
                    runbook=_RUNBOOK_DOWN, tier={"warning": "L1", "critical": "L2"}),
        BuiltinRule(name="db-stats-unreadable", metric="db.stats_ok", op="<", warn=0.5, for_s=0,
                    description="the server answers but its statement statistics cannot be read "
                                "(a privilege, the extension, performance_schema off)",
                    runbook=_RUNBOOK_STATS),
        BuiltinRule(name="slow-query-mean", metric="db.top_query_mean_ms", warn=500, crit=2000,
                    for_s=120, per_check=_slow_mean_override,
                    description="the statement that takes most database time got slow per call "
                                "(a check's slow_ms sets warn, 4x it crit)",
                    runbook=_RUNBOOK_MEAN),
        BuiltinRule(name="slow-calls", metric="db.slow_calls_per_s", warn=1.0, crit=5.0, clear=0.5, for_s=120,
                    description="calls per second of statements at least slow_ms per call",
                    runbook=_RUNBOOK_SLOW),
    )

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}

    # --- config ---

    def load(self, ck: KeyChecker, items: list[Any], path: str) -> tuple[DatabaseCheck, ...]:
        spec = {
            "name": (_str, ck.REQUIRED), "engine": (_engine, ck.REQUIRED), "host": (_str, "local"),
            "database": (_str, None), "user": (_str, None), "address": (_str, None), "port": (_port, None),
            "socket": (_str, None), "dsn_file": (_str, None), "client": (_str, None),
            "interval": (ck.duration, DatabaseCheck.interval), "timeout": (ck.duration, DatabaseCheck.timeout),
            "slow_ms": (_positive, DatabaseCheck.slow_ms), "top": (_top, DatabaseCheck.top),
        }
        out: list[DatabaseCheck] = []
        tables: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            at = f"{path}[{i}]"
            v = ck.table(item, at, spec)
            tables.append(v)
            if v["host"] != "local" and v["host"] not in ck.hosts:
                ck.problem(f"{at}.host", f'expected "local" or a configured host name, got "{v["host"]}"')
            if v["address"] is not None and v["socket"] is not None:
                ck.problem(f"{at}.socket", "give address (TCP) or socket, not both")
            for k in ("interval", "timeout"):
                if not v[k] > 0:
                    ck.problem(f"{at}.{k}", "expected a duration above 0")
            if v["name"] is None or v["engine"] is None:
                continue
            out.append(DatabaseCheck(**v))
        ck.unique(tables, path)
        return tuple(out)

    def vantages(self, check: DatabaseCheck) -> tuple[str, ...]:
        return (check.host,)

    def secrets(self, check: DatabaseCheck) -> tuple[str, ...]:
        s = self._secrets.get(check.name)
        return (s,) if s else ()

    def labels(self, check: Any, vantage: str) -> dict[str, str]:
        return {"vantage": vantage}

    # --- probing ---

    async def probe(self, check: DatabaseCheck, vantage: str, ctx: ProbeContext) -> DatabaseRow:
        t = ctx.clock()
        dsn = None
        if check.dsn_file:
            try:
                raw = await ctx.read_file(check.dsn_file, 4096)
                dsn = parse_dsn(raw.decode("utf-8", "replace"), check.engine)
            except OSError as e:
                return self.failed(check, vantage, f"dsn_file {check.dsn_file}: {e.strerror or e}", t)
            except ValueError as e:
                return self.failed(check, vantage, f"dsn_file {check.dsn_file}: {e}", t)
            if dsn.password:
                self._secrets[check.name] = dsn.password
        prev = await ctx.previous(self.name, check.name, vantage)
        sections = await ctx.run_script(vantage, script(check, dsn), check.timeout)
        row = self.read(check, sections, prev, t)
        return self._scrub(row, dsn)

    def read(self, check: DatabaseCheck, sections: Mapping[str, Any], prev: Mapping[str, Any] | None,
             t: float) -> DatabaseRow:
        """The row from the script's sections and the previous row (pure: tests call it)."""
        _, client = _client(check)
        who = f"{client} as {check.user}" if check.user else client
        base = DatabaseRow(engine=check.engine, up=False, t=t, slow_ms=check.slow_ms)
        carry = {"marks": dict((prev or {}).get("marks") or {}), "counters": dict((prev or {}).get("counters") or {})}
        srv = sections.get("server")
        if srv is None or srv.rc != 0:
            why = sq.first_error(srv.err or srv.out) if srv is not None else "no reply"
            return replace(base, reason=f"{who}: {why or f'exit {srv.rc}'}", **carry)
        errors: list[str] = []
        try:
            if check.engine == "postgresql":
                ps = sq.parse_pg_server(srv.out)
                marks: dict[str, Any] = {"start": ps.start_time, "now": ps.now}
                head = dict(version=ps.version, connections=ps.connections, uptime_s=round(ps.now - ps.start_time))
            else:
                ms = sq.parse_my_server(srv.out)
                marks = {"start": round(ms.now - ms.uptime_s), "now": ms.now, "uptime": ms.uptime_s}
                head = dict(version=ms.version, connections=ms.connections, uptime_s=ms.uptime_s)
                if not ms.performance_schema:
                    errors.append("performance_schema is OFF: no statement digests (set performance_schema=ON "
                                  "in the server's config and restart)")
        except ParseError as e:
            return replace(base, reason=f"{who}: unreadable reply: {e}", **carry)
        row = replace(base, up=True, **head)
        stm = sections.get("statements")
        view = "pg_stat_statements" if check.engine == "postgresql" else \
            "performance_schema.events_statements_summary_by_digest"
        st: sq.Statements | None = None
        if errors:
            pass
        elif stm is None or stm.rc != 0:
            err = sq.first_error(stm.err or stm.out) if stm is not None else "no reply"
            errors.append(f"{view} ({who}): {err}{_hint(check.engine, err)}")
        else:
            try:
                st = sq.parse_pg_statements(stm.out) if check.engine == "postgresql" else sq.parse_my_digests(stm.out)
            except ParseError as e:
                errors.append(f"{view} ({who}): unreadable reply: {e}")
        if check.engine == "postgresql" and st is not None:
            info = sections.get("info")
            if info is not None and info.rc == 0:
                try:
                    pi = sq.parse_pg_info(info.out)
                    marks.update(stats_reset=pi.stats_reset, dealloc=pi.dealloc)
                except ParseError as e:
                    errors.append(f"pg_stat_statements_info ({who}): unreadable reply: {e}")
            elif info is not None and not (row.version or "").startswith(("9.", "10", "11", "12", "13")):
                err = sq.first_error(info.err or info.out)
                errors.append(f"pg_stat_statements_info ({who}): {err}{_hint(check.engine, err)}")
        if st is None:
            return replace(row, errors=tuple(errors), reason="; ".join(errors) or None, **carry)
        figures = _interval(check, marks, st, prev)
        return replace(row, errors=tuple(errors), reason="; ".join(errors) or None, marks=marks, **figures)

    def _scrub(self, row: DatabaseRow, dsn: Dsn | None) -> DatabaseRow:
        secret = dsn.password if dsn else None
        if not secret:
            return row
        fix = lambda s: s.replace(secret, "***") if isinstance(s, str) else s  # noqa: E731
        return replace(row, reason=fix(row.reason), errors=tuple(fix(e) for e in row.errors))

    def failed(self, check: DatabaseCheck, vantage: str, reason: str, t: float) -> DatabaseRow:
        return DatabaseRow(engine=check.engine, up=False, t=t, reason=reason, slow_ms=check.slow_ms)

    # --- showing ---

    def state(self, row: Mapping[str, Any]) -> tuple[str, bool]:
        if not row.get("up"):
            return "down", True
        errors = _list(row.get("errors"))
        if errors:
            # Not a failed check: the server answers and its figures show; db.stats_ok's rule
            # (a warning) says how bad, the row's errors why.
            return ("denied" if any("denied" in str(e).lower() for e in errors) else "error"), False
        if row.get("reset"):
            return "reset", False
        return "ok", False

    def detail(self, row: Mapping[str, Any]) -> list[str]:
        head = f"{row.get('engine') or 'database'} {row.get('version') or ''}".strip()
        if not row.get("up"):
            return [f"{head}: down", f"  {row.get('reason') or 'no answer'}"]
        parts = [head, "up"]
        if is_number(row.get("connections")):
            parts.append(_n(row["connections"], "connection"))
        if is_number(row.get("uptime_s")):
            parts.append(f"up {_age(row['uptime_s'])}")
        lines = [" · ".join(parts)]
        lines += [f"  ! {e}" for e in _list(row.get("errors"))]
        if row.get("reset"):
            lines.append("counters reset in this interval (stats reset or restart): no rates until the next poll")
        elif row.get("first"):
            lines.append("first reading: rates from the next poll")
        elif is_number(row.get("interval_s")):
            share = row.get("top_query_share")
            lines.append(
                f"last {_age(row['interval_s'])}: {_num(row.get('calls_per_s'), '.1f')} calls/s · "
                f"{_num(row.get('slow_calls_per_s'), '.2f')} slow/s (>= {_num(row.get('slow_ms'), 'g')} ms)"
                + (f" · top query {share * 100:.0f}% of time" if is_number(share) else ""))
            for title, key in (("Top by total time", "top_total"), ("Top by mean time", "top_mean")):
                qs = [q for q in _list(row.get(key)) if isinstance(q, dict)]
                if not qs:
                    continue
                lines.append(f"{title}:")
                for i, q in enumerate(qs, 1):
                    # The statement on its own line, its figures under it: an 80-column drill-down
                    # wraps a long statement, not the figures.
                    lines.append(f"  {i}. {q.get('text')}")
                    lines.append(f"     {_n(q.get('calls'), 'call')} · {_ms(q.get('mean_ms'))} mean · "
                                 f"{_ms(q.get('total_ms'))} total · {_n(q.get('rows'), 'row')}")
            if row.get("untracked"):
                lines.append(f"({row['untracked']} statements seen for the first time: from the next poll)")
        return lines

    def handover_line(self, target: str, vantage: str, row: Mapping[str, Any]) -> str | None:
        word, failing = self.state(row)
        errors = [str(e) for e in _list(row.get("errors"))]
        if not failing and not errors:
            return None
        why = row.get("reason") if word == "down" else "; ".join(errors) or word
        return f"{self.title} {target} on {vantage}: {word}: {why}"


def _list(v: Any) -> list[Any]:
    """A stored row's list, or none (a row read back may be old or damaged)."""
    return list(v) if isinstance(v, (list, tuple)) else []


def _num(v: Any, spec: str) -> str:
    return format(v, spec) if is_number(v) else "-"


def _n(n: Any, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _ms(v: Any) -> str:
    if not is_number(v):
        return "-"
    return f"{v / 1000:.2f} s" if v >= 10000 else f"{v:.1f} ms" if v >= 1 else f"{v:.2f} ms"


def _age(s: float) -> str:
    s = float(s)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s / n:.0f}{unit}"
    return f"{s:.0f}s"


KIND = DatabasesKind()
