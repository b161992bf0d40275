"""The db kind without a server: its config keys and their one-line problems, the
dsn_file (its password only in the client's environment), the script's quoting, and
the interval figures from two readings: top lists, share, slow calls, and every kind
of counter reset (stats reset, restart, a counter going down, a digest made again)
read as "counters reset" with no rates, never a negative figure or a spike."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdash.alerts.rules import builtin_rules
from opsdash.config import parse_config
from opsdash.errors import ConfigError
from opsdash.kinds.databases import KIND, DatabaseCheck, DatabaseRow, parse_dsn, script
from opsdash.kinds.registry import by_name


@dataclass
class Sec:
    rc: int
    out: str
    err: str = ""


PG = DatabaseCheck(name="pg", engine="postgresql", slow_ms=100)
MY = DatabaseCheck(name="my", engine="mariadb", slow_ms=100)


def pg_sections(now: float, stmts: dict[str, tuple[int, float, int]], *, start: float = 1000.0,
                reset: float | None = 500.0, dealloc: int = 0, totals: tuple[int, float] | None = None) -> dict:
    lines = [f"{k},{c},{t},{r},SELECT {k} FROM t WHERE x = $1" for k, (c, t, r) in stmts.items()]
    tc, tt = totals if totals is not None else (sum(v[0] for v in stmts.values()), sum(v[1] for v in stmts.values()))
    lines.append(f"total,{tc},{tt},0,{len(stmts)}")
    return {"server": Sec(0, f"{start},{now},15.18,3\n"),
            "info": Sec(0, f"{reset if reset is not None else ''},{dealloc}\n"),
            "statements": Sec(0, "\n".join(lines) + "\n")}


def my_sections(now: float, stmts: dict[str, tuple[int, float, int, float]], *, uptime: float | None = None) -> dict:
    uptime = now - 10.0 if uptime is None else uptime  # started at 10
    lines = [f"total\t{sum(v[0] for v in stmts.values())}\t{int(sum(v[1] for v in stmts.values()) * 1e9)}\t0\t0\t{len(stmts)}"]
    lines += [f"{k}\t{c}\t{int(t * 1e9)}\t{r}\t{fs}\tSELECT `x` FROM `t{k}` WHERE `a` = ?" for k, (c, t, r, fs) in stmts.items()]
    return {"server": Sec(0, f"version\t10.11.19-MariaDB\nnow\t{now}\nperformance_schema\t1\nUptime\t{uptime}\n"
                             "Threads_connected\t2\n"),
            "statements": Sec(0, "\n".join(lines) + "\n")}


def poll(check: DatabaseCheck, sections: dict, prev: dict | None) -> dict:
    return KIND.read(check, sections, prev, 0.0).to_json()


# --- config ------------------------------------------------------------------------------


def test_the_kind_is_registered_with_its_section_pane_and_up_metric() -> None:
    k = by_name("db")
    assert k is KIND and k.section == "databases" and k.pane == "health" and k.up_metric == "db.up"
    assert k.title == "Database"


def test_config_keys_and_defaults() -> None:
    cfg = parse_config('[[hosts]]\nname = "db1"\naddress = "127.0.0.1"\n'
                       '[[databases]]\nname = "orders"\nengine = "postgresql"\nhost = "db1"\nsocket = "/run/postgresql"\n'
                       'user = "monitor"\ndatabase = "orders"\nslow_ms = 250\ntop = 3\ninterval = "2m"\n'
                       '[[databases]]\nname = "shop"\nengine = "mysql"\ndsn_file = "/etc/opsdash/shop.dsn"\n')
    pg, my = cfg.checks["db"]
    assert (pg.host, pg.socket, pg.user, pg.database, pg.slow_ms, pg.top, pg.interval) == \
        ("db1", "/run/postgresql", "monitor", "orders", 250.0, 3, 120.0)
    assert KIND.vantages(pg) == ("db1",)
    assert my.engine == "mariadb" and my.host == "local" and my.interval == 60 and my.slow_ms == 500 and my.top == 5


def test_bad_config_gives_one_line_per_problem_with_its_key() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config('[[databases]]\nname = "a"\nengine = "oracle"\nhost = "nowhere"\nslow_ms = -1\n'
                     '[[databases]]\nname = "b"\nengine = "postgresql"\ndsn_file = 5\nuser = "u"\n'
                     '[[databases]]\nname = "c"\nengine = "mariadb"\naddress = "db"\nsocket = "/s"\ntop = 99\n')
    lines = str(ei.value).splitlines()
    want = ["databases[0].engine: expected", "databases[0].host: expected \"local\" or a configured host",
            "databases[0].slow_ms: expected a number above 0", "databases[1].dsn_file: expected a non-empty string",
            "databases[2].socket: give address (TCP) or socket", "databases[2].top: expected an integer 1-20"]
    for w in want:
        assert sum(w in ln for ln in lines) == 1, (w, lines)


# --- dsn_file and the script ----------------------------------------------------------------


@pytest.mark.parametrize("text,engine,values,password", [
    ("postgresql://mon:p%40ss@db.example:6432/orders?sslmode=require\n", "postgresql",
     {"user": "mon", "host": "db.example", "port": "6432", "dbname": "orders", "sslmode": "require"}, "p@ss"),
    ("host=/run/postgresql dbname=orders user=mon password='it\\'s x'", "postgresql",
     {"host": "/run/postgresql", "dbname": "orders", "user": "mon"}, "it's x"),
    ("# the monitor's password\nhunter2\n", "postgresql", {}, "hunter2"),
    ("mariadb://mon:pw@127.0.0.1:3307/shop", "mariadb", {"user": "mon", "host": "127.0.0.1", "port": "3307",
                                                      "dbname": "shop"}, "pw"),
])
def test_dsn_file_forms(text: str, engine: str, values: dict, password: str) -> None:
    d = parse_dsn(text, engine)
    assert dict(d.values) == values and d.password == password


@pytest.mark.parametrize("text,engine,words", [
    ("mysql://u:secretpw@h/db", "postgresql", "a postgresql:// URI"),
    ("host=h passwd=secretpw", "postgresql", "unknown key 'passwd'"),
    ("a\nb\n", "mariadb", "expected one line"),
    ("postgresql://u:secretpw@h:port/db", "postgresql", "port is not a number"),
])
def test_a_bad_dsn_file_says_what_and_never_the_password(text: str, engine: str, words: str) -> None:
    with pytest.raises(ValueError) as ei:
        parse_dsn(text, engine)
    assert words in str(ei.value) and "secretpw" not in str(ei.value)


def test_the_password_is_only_in_the_scripts_environment_and_values_are_quoted() -> None:
    hostile = "/tmp/x; touch /tmp/pwned; $(id) `id` \"y"
    for check, dsn_text in ((DatabaseCheck(name="a", engine="postgresql", dsn_file="/f"),
                             f"host='{hostile}' user=mon password=S3cret"),
                            (DatabaseCheck(name="b", engine="mariadb", dsn_file="/f"),
                             "mariadb://mon:S3cret@db:3306/shop")):
        body = script(check, parse_dsn(dsn_text, check.engine))
        secret_lines = [ln for ln in body.splitlines() if "S3cret" in ln]
        assert len(secret_lines) == 1 and secret_lines[0].split("=")[0] in ("PGPASSWORD", "MYSQL_PWD")
        assert not any(ln.startswith("sec ") and "S3cret" in ln for ln in body.splitlines())
        for ln in body.splitlines():
            shlex.split(ln)  # every line is well-formed shell: values quoted, nothing breaks out
    assert f"PGHOST={shlex.quote(hostile)}; export PGHOST" in script(
        DatabaseCheck(name="a", engine="postgresql", dsn_file="/f"), parse_dsn(f"host='{hostile}'", "postgresql"))


def test_a_password_only_dsn_file_goes_with_the_checks_keys() -> None:
    check = DatabaseCheck(name="p", engine="postgresql", socket="/run/postgresql", user="mon", dsn_file="/f")
    body = script(check, parse_dsn("S3cret\n", "postgresql"))
    assert "PGHOST=/run/postgresql" in body and "PGUSER=mon" in body and "PGPASSWORD=S3cret" in body
    over = script(check, parse_dsn("postgresql://other:pw@db:5433/x", "postgresql"))
    assert "PGUSER=mon" in over and "PGUSER=other" not in over and "PGPORT=5433" in over  # the keys win


def test_connection_keys_reach_the_client() -> None:
    body = script(DatabaseCheck(name="m", engine="mariadb", socket="/run/mysqld/mysqld.sock", user="mon",
                                database="shop", client="/opt/mysql/bin/mysql"))
    assert body.startswith("c=/opt/mysql/bin/mysql\n")
    assert "--socket=/run/mysqld/mysqld.sock" in body and "--user=mon" in body and "--database=shop" in body
    pg = script(DatabaseCheck(name="p", engine="postgresql", address="10.0.0.5", port=6432, user="mon"))
    assert "PGHOST=10.0.0.5" in pg and "PGPORT=6432" in pg and "PGUSER=mon" in pg and "statement_timeout" in pg


# --- interval figures ----------------------------------------------------------------------


def _rates(row: dict) -> set[str]:
    return {s.metric for s in DatabaseRow.from_json(row).samples(0.0, "pg", {})} - {"db.up", "db.stats_ok"}


def test_first_reading_has_no_rates_then_deltas_rank_by_total_and_by_mean() -> None:
    a = poll(PG, pg_sections(100.0, {"1": (10, 50.0, 10), "2": (5, 5.0, 5), "3": (1, 1.0, 1)}), None)
    assert a["first"] and a["up"] and _rates(a) == set() and a["ok"]
    b = poll(PG, pg_sections(110.0, {"1": (20, 1050.0, 20), "2": (105, 55.0, 105), "3": (2, 401.0, 2)}), a)
    assert not b["first"] and not b["reset"] and b["interval_s"] == 10
    assert [(q["calls"], q["total_ms"]) for q in b["top_total"]] == [(10, 1000.0), (1, 400.0), (100, 50.0)]
    assert [q["mean_ms"] for q in b["top_mean"]] == [400.0, 100.0, 0.5]
    assert b["top_query_mean_ms"] == 100.0 and b["top_query_share"] == round(1000 / 1450, 4)
    assert b["slow_calls_per_s"] == 1.1  # 10 calls at 100 ms + 1 at 400 ms, over 10 s
    assert b["calls_per_s"] == 11.1 and _rates(b) == {"db.top_query_mean_ms", "db.slow_calls_per_s", "db.top_query_share"}
    assert "$1" in b["top_total"][0]["text"]


def test_share_counts_statements_not_read_through_the_servers_totals() -> None:
    a = poll(PG, pg_sections(100.0, {"1": (10, 50.0, 10)}, totals=(100, 500.0)), None)
    b = poll(PG, pg_sections(110.0, {"1": (20, 150.0, 20)}, totals=(300, 900.0)), a)
    assert b["top_query_share"] == 0.25 and b["calls_per_s"] == 20.0


@pytest.mark.parametrize("change", ["stats_reset", "restart", "calls down", "total down", "totals down"])
def test_every_sign_of_a_reset_is_counters_reset_with_no_rates(change: str) -> None:
    a = poll(PG, pg_sections(100.0, {"1": (100, 5000.0, 100), "2": (10, 10.0, 10)}), None)
    kw: dict = {}
    stmts = {"1": (150, 9000.0, 150), "2": (12, 12.0, 12)}
    if change == "stats_reset":
        kw["reset"] = 105.0
    elif change == "restart":
        kw["start"] = 104.0
    elif change == "calls down":
        stmts["2"] = (3, 12.0, 3)
    elif change == "total down":
        stmts["2"] = (12, 9.0, 12)
    else:
        kw["totals"] = (50, 100.0)
    b = poll(PG, pg_sections(110.0, stmts, **kw), a)
    assert b["reset"] and b["top_total"] == [] and _rates(b) == set() and KIND.state(b) == ("reset", False)
    c = poll(PG, pg_sections(120.0, {k: (v[0] + 1, v[1] + 2.0, v[2]) for k, v in stmts.items()}, **kw), b)
    assert not c["reset"] and [q["calls"] for q in c["top_total"]] == [1, 1]  # the reset reading is the baseline


def test_evictions_lower_the_totals_without_a_reset() -> None:
    a = poll(PG, pg_sections(100.0, {"1": (10, 50.0, 10)}, totals=(1000, 5000.0)), None)
    b = poll(PG, pg_sections(110.0, {"1": (20, 150.0, 20)}, totals=(900, 4000.0), dealloc=1), a)
    assert not b["reset"] and b["top_total"][0]["calls"] == 10 and b["top_query_share"] == 1.0


def test_a_statement_without_earlier_counters_waits_a_poll_unless_the_reading_was_complete() -> None:
    many = {str(i): (1, 1.0, 1) for i in range(300)}  # more than a row keeps
    a = poll(PG, pg_sections(100.0, many), None)
    assert len(a["counters"]) == 200 and not a["marks"]["complete"]
    b = poll(PG, pg_sections(110.0, {**many, "new": (5, 5000.0, 5)}), a)
    assert b["untracked"] >= 1 and all("new" not in q["text"] for q in b["top_total"])
    assert "new" in b["counters"]  # kept: active statements first
    c = poll(PG, pg_sections(120.0, {**many, "new": (7, 7000.0, 7)}), b)
    assert c["top_total"][0]["text"].startswith("SELECT new") and c["top_total"][0]["calls"] == 2
    small = poll(PG, pg_sections(100.0, {"1": (1, 1.0, 1)}), None)
    assert small["marks"]["complete"]
    d = poll(PG, pg_sections(110.0, {"1": (1, 1.0, 1), "new": (5, 5000.0, 5)}), small)
    assert d["top_total"][0]["calls"] == 5 and d["untracked"] == 0


def test_mariadb_digest_made_again_after_truncate_is_a_reset_even_with_more_calls() -> None:
    a = poll(MY, my_sections(100.0, {"d1": (10, 1.0, 10, 50.0)}), None)
    b = poll(MY, my_sections(110.0, {"d1": (30, 3.0, 30, 105.0)}), a)  # truncated at 105, 30 calls since
    assert b["reset"] and _rates(b) == set()
    c = poll(MY, my_sections(120.0, {"d1": (34, 3.4, 34, 105.0), "d2": (2, 0.5, 2, 115.0)}), b)
    assert not c["reset"] and {q["calls"] for q in c["top_total"]} == {4, 2}  # d2 is new since b: counted


def test_a_restart_right_after_the_last_start_is_still_a_reset() -> None:
    a = poll(PG, pg_sections(100.0, {"1": (10, 50.0, 10)}, start=99.5), None)
    b = poll(PG, pg_sections(110.0, {"1": (20, 60.0, 20)}, start=99.9), a)  # counters kept over it
    assert b["reset"]
    m = poll(MY, my_sections(100.0, {"d1": (10, 1.0, 10, 98.0)}, uptime=2.0), None)
    n = poll(MY, my_sections(103.0, {"d1": (20, 2.0, 20, 98.0)}, uptime=1.0), m)  # start "moved" 2 s only
    assert n["reset"]


def test_mariadb_restart_is_a_reset_and_performance_schema_off_is_one_line() -> None:
    a = poll(MY, my_sections(100.0, {"d1": (10, 1.0, 10, 50.0)}, uptime=100.0), None)
    b = poll(MY, my_sections(110.0, {"d1": (20, 2.0, 20, 50.0)}, uptime=3.0), a)
    assert b["reset"]
    off = my_sections(120.0, {})
    off["server"] = Sec(0, off["server"].out.replace("performance_schema\t1", "performance_schema\t0"))
    row = poll(MY, off, b)
    assert row["up"] and len(row["errors"]) == 1 and "performance_schema is OFF" in row["errors"][0]
    assert row["stats_ok"] is False and row["reason"] == row["errors"][0] and KIND.state(row) == ("error", False)


def test_a_server_that_does_not_answer_keeps_the_counters_for_the_next_poll() -> None:
    a = poll(PG, pg_sections(100.0, {"1": (10, 50.0, 10)}), None)
    down = poll(PG, {"server": Sec(2, "", "psql: error: connection to server at \"db\" failed: Connection refused\n"
                                          "\tIs the server running?\n")}, a)
    assert not down["up"] and down["reason"] == 'psql: connection to server at "db" failed: Connection refused'
    assert KIND.state(down) == ("down", True) and down["reason"] in KIND.handover_line("pg", "db1", down)
    assert {s.metric: s.value for s in DatabaseRow.from_json(down).samples(0, "pg", {})} == {"db.up": 0.0}
    back = poll(PG, pg_sections(160.0, {"1": (70, 110.0, 70)}), down)
    assert back["interval_s"] == 60 and back["top_total"][0]["calls"] == 60


def test_unreadable_statements_are_one_line_and_the_server_figures_stand() -> None:
    s = pg_sections(100.0, {"1": (1, 1.0, 1)})
    s["statements"] = Sec(0, "garbage,\n")
    row = poll(PG, s, None)
    assert row["up"] and row["version"] == "15.18" and row["connections"] == 3
    assert len(row["errors"]) == 1 and row["errors"][0].startswith("pg_stat_statements (psql): unreadable reply")


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(st.tuples(st.integers(0, 50), st.floats(0, 1e4)), min_size=1,
                                                  max_size=4)), min_size=2, max_size=8))
def test_any_sequence_of_readings_never_gives_a_negative_figure(steps) -> None:
    """Counters that grow, and now and then start again (reset flag): every figure >= 0,
    and a reading where any counter went down is never a rate."""
    cum: dict[str, list[float]] = {}
    prev = None
    stats_reset = 1.0
    for n, (reset, incs) in enumerate(steps):
        if reset:
            cum, stats_reset = {}, stats_reset + 1
        for i, (dc, dt) in enumerate(incs):
            c = cum.setdefault(str(i), [0, 0.0])
            c[0] += dc
            c[1] += dt
        stmts = {k: (int(v[0]), v[1], int(v[0])) for k, v in cum.items()}
        row = poll(PG, pg_sections(100.0 + 10 * n, stmts, reset=stats_reset), prev)
        for k in ("calls_per_s", "slow_calls_per_s", "top_query_mean_ms", "top_query_share"):
            assert row[k] is None or 0 <= row[k] < float("inf"), (k, row[k])
        for q in row["top_total"] + row["top_mean"]:
            assert q["calls"] > 0 and q["total_ms"] >= 0 and q["mean_ms"] >= 0 and q["rows"] >= 0
        if reset and prev is not None:
            assert row["reset"] and _rates(row) == set()
        prev = row


# --- declarations, rules, showing ----------------------------------------------------------


def test_metrics_and_rules_are_declared_with_runbooks() -> None:
    assert {m.name for m in KIND.metrics} == {"db.up", "db.stats_ok", "db.top_query_mean_ms", "db.slow_calls_per_s",
                                              "db.top_query_share"}
    assert all(m.label and m.help and m.unit in ("", "ms", "bool", "frac") for m in KIND.metrics)
    by = {r.name: r for r in KIND.rules}
    assert by["slow-query-mean"].metric == "db.top_query_mean_ms" and by["slow-calls"].metric == "db.slow_calls_per_s"
    for r in KIND.rules:
        assert r.description and len(r.runbook) > 80
    assert "EXPLAIN (ANALYZE, BUFFERS)" in by["slow-query-mean"].runbook
    assert "SHOW FULL PROCESSLIST" in by["slow-query-mean"].runbook and "pg_stat_statements" in by["slow-query-mean"].runbook


def test_a_checks_slow_ms_sets_its_own_slow_query_thresholds() -> None:
    cfg = parse_config('[[databases]]\nname = "fast"\nengine = "postgresql"\nslow_ms = 50\n'
                       '[[databases]]\nname = "usual"\nengine = "postgresql"\n')
    rule = next(r for r in builtin_rules(cfg) if r.name == "slow-query-mean")
    assert rule.warn == 500 and rule.crit == 2000 and rule.clear is None  # none above a check's own warn
    own = {o.match["target"]: (o.warn, o.crit) for o in rule.overrides}
    assert own == {"fast": (50.0, 200.0)}


def test_detail_lists_both_top_lists_and_the_handover_only_failures() -> None:
    a = poll(PG, pg_sections(100.0, {"1": (10, 50.0, 10), "2": (1, 1.0, 1)}), None)
    b = poll(PG, pg_sections(110.0, {"1": (20, 1050.0, 20), "2": (2, 501.0, 1)}), a)
    text = "\n".join(KIND.detail(b))
    assert "Top by total time:" in text and "Top by mean time:" in text and "     1 call · " in text and "10 calls · " in text
    assert "last 10s: 1.1 calls/s · 1.10 slow/s (>= 100 ms) · top query 67% of time" in text
    assert KIND.handover_line("pg", "local", b) is None
    assert "counters reset" in "\n".join(KIND.detail(poll(PG, pg_sections(120.0, {"1": (1, 1.0, 1)}), b)))


@settings(max_examples=100, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(["up", "engine", "version", "connections", "uptime_s", "errors", "reset",
                                        "first", "interval_s", "calls_per_s", "slow_calls_per_s", "slow_ms",
                                        "top_query_share", "top_total", "top_mean", "untracked", "reason"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
                       | st.lists(st.text(max_size=10) | st.dictionaries(st.text(max_size=8), st.integers()), max_size=3)))
def test_detail_state_and_handover_survive_any_stored_row(row) -> None:
    """A row read back from the store may be old or damaged: the drill-down still draws."""
    KIND.state(row)
    line = KIND.handover_line("pg", "local", row)
    assert line is None or isinstance(line, str)
    assert all(isinstance(ln, str) for ln in KIND.detail(row))
