"""Slow queries from a real MariaDB with performance_schema on: a deliberately slow
statement (SLEEP via one digest) run 50 times is first by total time with 50 calls in
the interval; a TRUNCATE of the digest table and a restart are "counters reset", never
a negative figure or a spike; a user without SELECT on performance_schema gets one
line naming the table while the server's other figures still show; a dsn_file's
password reaches the client and nothing else. One server for the module."""

from __future__ import annotations

import subprocess

import pytest

from opsdash.kinds.databases import KIND, DatabaseCheck
from tests.support.databases import LocalContext, mariadb, missing_mariadb

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_mariadb()), reason=f"not installed: {', '.join(missing_mariadb())}")]

SLOW = "SELECT SLEEP(0.02);\n"
PASSWORD = "s3cret-Pw-for-monitor"


@pytest.fixture(scope="module")
def db():
    with mariadb("--performance-schema=ON") as db:
        db.sql(f"CREATE USER monitor@'%' IDENTIFIED BY '{PASSWORD}'; GRANT SELECT ON performance_schema.* TO monitor@'%';"
               f"CREATE USER nopriv@localhost;")
        yield db


def _check(db, **kw) -> DatabaseCheck:
    return DatabaseCheck(name="maria", engine="mariadb", **({"socket": db.socket, "user": "root"} | kw))


def _run_many(db, sql: str, n: int) -> None:
    subprocess.run(db.client_args(), input=sql * n, text=True, check=True, capture_output=True, timeout=60)


def _no_negatives(row: dict) -> None:
    for k in ("calls_per_s", "slow_calls_per_s", "top_query_mean_ms", "top_query_share"):
        assert row.get(k) is None or row[k] >= 0, (k, row[k])
    for q in [*row["top_total"], *row["top_mean"]]:
        assert q["calls"] > 0 and q["total_ms"] >= 0 and q["mean_ms"] >= 0 and q["rows"] >= 0, q


async def test_slow_statement_run_50_times_is_first_by_total_time_with_50_calls(db) -> None:
    ctx, check = LocalContext(), _check(db, slow_ms=10)
    first = await ctx.poll(KIND, check)
    assert first["up"] and first["first"] and not first["errors"], first
    _run_many(db, SLOW, 50)
    row = await ctx.poll(KIND, check)
    assert row["ok"] and not row["reset"] and not row["first"], row
    top = row["top_total"][0]
    assert "SLEEP" in top["text"] and top["calls"] == 50, row["top_total"]
    assert top["mean_ms"] >= 20 and 1000 <= top["total_ms"] < 5000, top
    assert row["top_mean"][0]["text"] == top["text"]
    assert row["top_query_mean_ms"] == top["mean_ms"] and 0.5 < row["top_query_share"] <= 1.0
    assert row["slow_calls_per_s"] > 0
    assert "0.02" not in top["text"]
    assert not any("summary_by_digest" in q["text"] or "performance_schema" in q["text"]
                   for q in row["top_total"] + row["top_mean"])  # the check is not its own top statement
    _no_negatives(row)
    assert "SLEEP" in "\n".join(KIND.detail(row))


async def test_truncated_digests_between_polls_are_counters_reset_not_a_spike(db) -> None:
    ctx, check = LocalContext(), _check(db)
    await ctx.poll(KIND, check)
    _run_many(db, SLOW, 20)
    db.sql("TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
    _run_many(db, SLOW, 30)  # more calls after the reset than before it: FIRST_SEEN tells
    row = await ctx.poll(KIND, check)
    assert row["up"] and row["reset"] and row["top_total"] == [] and row["slow_calls_per_s"] is None, row
    assert {s.metric for s in KIND.row_type.from_json(row).samples(row["t"], "maria", {})} == {"db.up", "db.stats_ok"}
    _run_many(db, SLOW, 4)
    after = await ctx.poll(KIND, check)
    assert not after["reset"] and after["top_total"][0]["calls"] == 4, after["top_total"]
    _no_negatives(after)


async def test_server_restart_is_counters_reset(db) -> None:
    ctx, check = LocalContext(), _check(db)
    await ctx.poll(KIND, check)
    db.restart()
    row = await ctx.poll(KIND, check)
    assert row["up"] and row["reset"] and row["top_total"] == [], row


async def test_a_user_without_select_on_performance_schema_gets_one_line_and_the_other_figures(db) -> None:
    row = await LocalContext().poll(KIND, _check(db, user="nopriv"))
    assert row["up"] and len(row["errors"]) == 1, row["errors"]
    err = row["errors"][0]
    assert "\n" not in err and "events_statements_summary_by_digest" in err and "denied" in err, err
    assert "mariadb as nopriv" in err
    assert row["version"] and row["connections"] >= 1 and row["uptime_s"] >= 0
    assert KIND.state(row) == ("denied", False) and err in KIND.handover_line("maria", "local", row)


async def test_a_dsn_file_password_reaches_the_client_and_nowhere_else(db, tmp_path) -> None:
    dsn = tmp_path / "maria.dsn"
    dsn.write_text(f"mariadb://monitor:{PASSWORD}@127.0.0.1:{db.port}/\n")
    ctx = LocalContext()
    check = DatabaseCheck(name="maria", engine="mariadb", dsn_file=str(dsn))
    await ctx.poll(KIND, check)
    _run_many(db, SLOW, 3)
    row = await ctx.poll(KIND, check)
    assert row["ok"] and any("SLEEP" in q["text"] for q in row["top_total"]), row
    assert PASSWORD not in str(row) and KIND.secrets(check) == (PASSWORD,)
    dsn.write_text(f"mariadb://monitor:wrong-{PASSWORD}@127.0.0.1:{db.port}/\n")
    bad = await ctx.poll(KIND, check)
    assert not bad["up"] and "Access denied" in bad["reason"] and PASSWORD not in str(bad), bad["reason"]
