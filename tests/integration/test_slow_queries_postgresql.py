"""Slow queries from a real PostgreSQL with pg_stat_statements (preloaded by the test):
a deliberately slow statement run 50 times is first by total time with 50 calls in
the interval; pg_stat_statements_reset() and a restart are "counters reset", never a
negative figure or a spike; a user refused the view gets one line naming it while
the server's other figures still show. One cluster for the module."""

from __future__ import annotations

import pytest

from opsdash.kinds.databases import KIND, DatabaseCheck
from tests.support.databases import LocalContext, missing_postgres, postgres

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_postgres()), reason=f"not installed: {', '.join(missing_postgres())}")]

SLOW = "SELECT count(*) FROM pg_sleep(0.02);\n"


@pytest.fixture(scope="module")
def pg():
    with postgres(preload="pg_stat_statements") as pg:
        pg.sql("CREATE EXTENSION pg_stat_statements")
        pg.sql("CREATE ROLE monitor LOGIN IN ROLE pg_read_all_stats")
        pg.sql("CREATE ROLE nopriv LOGIN")
        yield pg


def _check(pg, user: str = "postgres", **kw) -> DatabaseCheck:
    return DatabaseCheck(name="pg", engine="postgresql", socket=pg.socket, port=pg.port, user=user,
                         database="postgres", timeout=20, **kw)


def _run_many(pg, sql: str, n: int) -> None:
    import subprocess

    subprocess.run([*pg.psql_args(), "-f", "-"], input=sql * n, text=True, check=True, capture_output=True,
                   timeout=60)


def _no_negatives(row: dict) -> None:
    for k in ("calls_per_s", "slow_calls_per_s", "top_query_mean_ms", "top_query_share"):
        assert row.get(k) is None or row[k] >= 0, (k, row[k])
    for q in [*row["top_total"], *row["top_mean"]]:
        assert q["calls"] > 0 and q["total_ms"] >= 0 and q["mean_ms"] >= 0 and q["rows"] >= 0, q


async def test_slow_statement_run_50_times_is_first_by_total_time_with_50_calls(pg) -> None:
    ctx, check = LocalContext(), _check(pg, user="monitor", slow_ms=10)
    first = await ctx.poll(KIND, check)
    assert first["up"] and first["first"] and not first["errors"], first
    _run_many(pg, SLOW, 50)
    row = await ctx.poll(KIND, check)
    assert row["ok"] and not row["reset"] and not row["first"], row
    top = row["top_total"][0]
    assert "pg_sleep" in top["text"] and top["calls"] == 50, row["top_total"]
    assert top["mean_ms"] >= 20 and 1000 <= top["total_ms"] < 5000, top
    assert row["top_mean"][0]["text"] == top["text"]
    assert row["top_query_mean_ms"] == top["mean_ms"]
    assert 0.5 < row["top_query_share"] <= 1.0
    assert row["slow_calls_per_s"] > 0  # 50 calls of >= 20 ms against slow_ms = 10
    assert "0.02" not in top["text"] and "$1" in top["text"]  # normalised, never the parameter
    assert not any("pg_stat_statements" in q["text"] for q in row["top_total"] + row["top_mean"])  # not itself
    _no_negatives(row)
    samples = {s.metric: s.value for s in KIND.row_type.from_json(row).samples(row["t"], "pg", {"vantage": "local"})}
    assert samples["db.up"] == 1 and samples["db.top_query_mean_ms"] == top["mean_ms"]
    lines = "\n".join(KIND.detail(row))
    assert "Top by total time:" in lines and "50 calls" in lines and "pg_sleep" in lines


async def test_a_password_in_a_utility_statement_never_shows(pg) -> None:
    ctx, check = LocalContext(), _check(pg)
    await ctx.poll(KIND, check)
    _run_many(pg, "ALTER ROLE nopriv PASSWORD 'hunter2-secret';\n", 3)  # kept verbatim by PostgreSQL 15
    row = await ctx.poll(KIND, check)
    texts = [q["text"] for q in row["top_total"] + row["top_mean"]]
    assert any(t.startswith("ALTER ROLE nopriv PASSWORD") for t in texts), texts
    assert "hunter2" not in str(row) and "hunter2" not in "\n".join(KIND.detail(row))


async def test_stats_reset_between_polls_is_counters_reset_not_a_spike(pg) -> None:
    ctx, check = LocalContext(), _check(pg)
    await ctx.poll(KIND, check)
    _run_many(pg, SLOW, 30)
    pg.sql("SELECT pg_stat_statements_reset()")
    _run_many(pg, SLOW, 5)  # fewer calls than before the reset, and some more after it
    row = await ctx.poll(KIND, check)
    assert row["up"] and row["reset"] and KIND.state(row) == ("reset", False), row
    assert row["top_total"] == [] and row["slow_calls_per_s"] is None and row["top_query_mean_ms"] is None
    metrics = {s.metric for s in KIND.row_type.from_json(row).samples(row["t"], "pg", {})}
    assert metrics == {"db.up", "db.stats_ok"}  # no rate at all in a reset interval
    _run_many(pg, SLOW, 7)
    after = await ctx.poll(KIND, check)
    assert not after["reset"] and after["top_total"][0]["calls"] == 7, after["top_total"]
    _no_negatives(after)


async def test_server_restart_is_counters_reset(pg) -> None:
    ctx, check = LocalContext(), _check(pg)
    await ctx.poll(KIND, check)
    pg.restart()
    row = await ctx.poll(KIND, check)
    assert row["up"] and row["reset"] and row["top_total"] == [], row


async def test_a_user_refused_the_view_gets_one_line_naming_it_and_the_other_figures(pg) -> None:
    pg.sql("REVOKE SELECT ON pg_stat_statements, pg_stat_statements_info FROM PUBLIC")
    try:
        ctx, check = LocalContext(), _check(pg, user="nopriv")
        row = await ctx.poll(KIND, check)
    finally:
        pg.sql("GRANT SELECT ON pg_stat_statements, pg_stat_statements_info TO PUBLIC")
    assert row["up"] and len(row["errors"]) == 1, row["errors"]
    err = row["errors"][0]
    assert "\n" not in err and "pg_stat_statements" in err and "permission denied" in err, err
    assert "psql as nopriv" in err
    assert row["version"].startswith(str(15)) or row["version"][0].isdigit()
    assert row["connections"] >= 1 and row["uptime_s"] >= 0  # the server's figures still show
    assert KIND.state(row) == ("denied", False)  # not a failed check: db.stats_ok's rule says how bad
    assert err in KIND.handover_line("pg", "local", row)
    assert {s.metric: s.value for s in KIND.row_type.from_json(row).samples(0, "pg", {})} == \
        {"db.up": 1.0, "db.stats_ok": 0.0}


async def test_a_server_that_is_not_there_is_down_with_the_clients_words() -> None:
    check = DatabaseCheck(name="pg", engine="postgresql", address="127.0.0.1", port=1, user="x", timeout=10)
    row = await LocalContext().poll(KIND, check)
    assert not row["up"] and KIND.state(row) == ("down", True)
    assert row["reason"].startswith("psql as x: ") and "127.0.0.1" in row["reason"], row["reason"]
