"""The slow-query parsers on real captures (PostgreSQL 15 pg_stat_statements, MariaDB
10.11 statement digests, their refusals) and under hypothesis: any text gives records
or a ParseError, never another exception, never a negative counter, and statement text
that is shown never holds a quoted literal."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdash.errors import ParseError
from opsdash.parsers import slow_queries as sq
from tests.support import FIXTURES


def _fx(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_pg_statements_capture_reads_every_statement_and_the_totals() -> None:
    s = sq.parse_pg_statements(_fx("pg-stat-statements.csv.txt"))
    by_text = {x.text: x for x in s.items}
    sleep = by_text["SELECT count(*) FROM pg_sleep($1)"]
    assert sleep.calls == 10 and 200 < sleep.total_ms < 400 and sleep.rows == 10 and sleep.first_seen is None
    assert s.entries == 12 and s.total_calls == 48 and s.total_ms and s.total_ms > sleep.total_ms
    assert "SELECT $1 + $2" in by_text  # a statement on several lines is one line
    assert "ALTER ROLE nopriv PASSWORD ?" in by_text  # PostgreSQL 15 keeps utility statements verbatim
    assert not any("hunter2" in t for t in by_text)


def test_pg_server_and_info_captures() -> None:
    srv = sq.parse_pg_server(_fx("pg-stat-statements-server.csv.txt"))
    assert srv.version.startswith("15.") and srv.connections == 1 and srv.now > srv.start_time > 1.7e9
    info = sq.parse_pg_info(_fx("pg-stat-statements-info.csv.txt"))
    assert info.stats_reset and info.stats_reset > 1.7e9 and info.dealloc == 0


def test_mariadb_captures_read_digests_in_ms_and_the_server() -> None:
    s = sq.parse_my_digests(_fx("mariadb-statement-digests.tsv.txt"))
    sleep = next(x for x in s.items if "SLEEP" in x.text)
    assert sleep.calls == 10 and 200 < sleep.total_ms < 400 and sleep.first_seen and sleep.first_seen > 1.7e9
    # the totals are read first, the digests just after (so they see that statement too)
    assert s.entries and len(s.items) >= s.entries >= 8 and s.total_calls and s.total_calls >= 36
    srv = sq.parse_my_server(_fx("mariadb-server-status.tsv.txt"))
    assert srv.version.startswith("10.11") and srv.performance_schema and srv.connections == 1 and srv.uptime_s >= 1


@pytest.mark.parametrize("name,want", [
    ("pg-stat-statements-denied.stderr.txt", "permission denied for view pg_stat_statements"),
    ("mariadb-statement-digests-denied.stderr.txt",
     "SELECT command denied to user 'nopriv'@'localhost' for table "
     "`performance_schema`.`events_statements_summary_by_digest`"),
])
def test_a_refusal_is_the_one_line_that_says_it(name: str, want: str) -> None:
    assert sq.first_error(_fx(name)) == want


@pytest.mark.parametrize("stderr,want", [
    ("sh: 10: /opt/pg/bin/psql: not found\n", "/opt/pg/bin/psql: not found"),
    ('psql: error: connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused\n'
     "\tIs the server running on that host and accepting TCP/IP connections?\n",
     'connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused'),
    ("ERROR 1045 (28000): Access denied for user 'mon'@'10.0.0.9' (using password: YES)\n",
     "Access denied for user 'mon'@'10.0.0.9' (using password: YES)"),
])
def test_client_failures_read_as_their_one_line(stderr: str, want: str) -> None:
    assert sq.first_error(stderr) == want


@pytest.mark.parametrize("raw,shown", [
    ("ALTER ROLE x PASSWORD 'it''s secret' VALID UNTIL 'infinity'", "ALTER ROLE x PASSWORD ? VALID UNTIL ?"),
    ("SET app.key = E'a\\'b'; SELECT 1", "SET app.key = ?; SELECT ?"),
    ("DO $body$ BEGIN PERFORM 'x'; END $body$", "DO ?"),
    ("CREATE USER u PASSWORD 'cut off by the serv", "CREATE USER u PASSWORD ?…"),
    ("SELECT $1, t1.c2 FROM t1 LIMIT 10", "SELECT $1, t1.c2 FROM t1 LIMIT ?"),
    ('SELECT "Col 1" FROM `t`\n\twhere x=?', 'SELECT "Col 1" FROM `t` where x=?'),
])
def test_normalise_shows_no_literal(raw: str, shown: str) -> None:
    assert sq.normalise(raw) == shown


def test_normalise_caps_the_length() -> None:
    assert len(sq.normalise("SELECT " + "x, " * 500)) == sq.TEXT_MAX


@pytest.mark.parametrize("fn,text", [
    (sq.parse_pg_statements, "1,2,3\n"),  # too few fields
    (sq.parse_pg_statements, "1,-5,3,4,SELECT 1\n"),  # a negative counter
    (sq.parse_pg_statements, "1,nan,3,4,SELECT 1\n"),
    (sq.parse_pg_statements, "1,1e999,3,4,SELECT 1\n"),
    (sq.parse_pg_statements, "a b,1,1,1,SELECT 1\n"),  # not an id
    (sq.parse_pg_server, ""),
    (sq.parse_pg_info, "x,0\n"),
    (sq.parse_my_server, "version\tx\n"),
    (sq.parse_my_digests, "d\t1\t2\t3\t4\n"),
])
def test_garbage_is_a_parse_error(fn, text: str) -> None:
    with pytest.raises(ParseError):
        fn(text)


# --- fuzz ----------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
_CAPTURES = {sq.parse_pg_statements: "pg-stat-statements.csv.txt", sq.parse_pg_server: "pg-stat-statements-server.csv.txt",
             sq.parse_pg_info: "pg-stat-statements-info.csv.txt", sq.parse_my_digests: "mariadb-statement-digests.tsv.txt",
             sq.parse_my_server: "mariadb-server-status.tsv.txt"}
HOSTILE = ["9" * 5000, "-1", "nan", "inf", "1e999", "NULL", "\\N", "²", "\x1b]52;c;aGk=\x07", "'", '"', "$$", "\t",
           ",", "\n", "\r", "\x00", "total", "'secret", "E'\\'"]


@st.composite
def _damaged(draw, name: str) -> str:
    lines = _fx(name).splitlines(keepends=True)
    ops = draw(st.lists(st.tuples(st.sampled_from(["drop", "dup", "insert", "cut", "field"]),
                                  st.integers(0, max(0, len(lines) - 1)), st.sampled_from(HOSTILE) | st.text(max_size=8)),
                        max_size=5))
    for op, i, junk in ops:
        if not lines:
            break
        i %= len(lines)
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, junk + "\n")
        elif op == "cut":
            lines[i] = lines[i][: len(lines[i]) // 2]
        else:
            sep = "\t" if ".tsv" in name else ","
            parts = lines[i].split(sep)
            parts[i % len(parts)] = junk
            lines[i] = sep.join(parts)
    return "".join(lines)


def _texts(name: str):
    return st.one_of(st.text(max_size=300), _damaged(name),
                     st.lists(st.sampled_from(HOSTILE) | st.text(max_size=10), max_size=12).map(",".join),
                     st.lists(st.sampled_from(HOSTILE) | st.text(max_size=10), max_size=12).map("\t".join))


def _outside_identifiers(text: str) -> str:
    # an identifier may be cut at the end by the length cap
    return re.sub(r'"(?:[^"]|"")*(?:"|$)|`(?:[^`]|``)*(?:`|$)', "", text)


@pytest.mark.parametrize("fn", list(_CAPTURES), ids=lambda f: f.__name__)
@FUZZ
@given(data=st.data())
def test_fuzz_parsers_give_records_or_a_parse_error(fn, data) -> None:
    text = data.draw(_texts(_CAPTURES[fn]), label="text")
    try:
        out = fn(text)
    except ParseError:
        return
    for x in getattr(out, "items", ()):
        assert x.calls >= 0 and x.total_ms >= 0 and x.rows >= 0
        assert x.total_ms == x.total_ms and x.total_ms != float("inf")
        assert "'" not in _outside_identifiers(x.text) and len(x.text) <= sq.TEXT_MAX
        assert not re.search(r"[\x00-\x1f\x7f]", x.text)


@FUZZ
@given(st.text(max_size=400) | st.lists(st.sampled_from(HOSTILE + ['"', "`", "a'b", '"x\'y"']) | st.text(max_size=12),
                                        max_size=20).map(" ".join))
def test_fuzz_normalise_never_shows_a_quote_or_a_control_character(text: str) -> None:
    out = sq.normalise(text)
    assert "'" not in _outside_identifiers(out) and len(out) <= sq.TEXT_MAX and not re.search(r"[\x00-\x1f\x7f-\x9f]", out)


@FUZZ
@given(st.text(max_size=400))
def test_fuzz_first_error_is_one_short_line(text: str) -> None:
    out = sq.first_error(text)
    assert "\n" not in out and "\r" not in out and len(out) <= 200
