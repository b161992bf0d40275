"""Slow queries through a real `opsdash collect`: a [[databases]] check with a dsn_file
(password authentication over TCP) polls a real PostgreSQL; the 50 calls of a slow
statement made between polls add up to 50 in the stored rows, the rules see the figures
(slow-calls and slow-query-mean go pending, the latter at the check's slow_ms), and the password is in none of the store's files."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from opsdash.errors import StoreError
from opsdash.store import Store
from tests.support.databases import missing_postgres, postgres

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_postgres()), reason=f"not installed: {', '.join(missing_postgres())}")]

PASSWORD = "db-Collect-pw-7c41"


def test_collect_reads_slow_statements_over_a_dsn_file_and_never_stores_the_password(tmp_path: Path) -> None:
    with postgres(preload="pg_stat_statements", host_auth="scram-sha-256") as pg:
        pg.sql("CREATE EXTENSION pg_stat_statements")
        pg.sql(f"CREATE ROLE monitor LOGIN PASSWORD '{PASSWORD}' IN ROLE pg_read_all_stats")
        dsn = tmp_path / "orders.dsn"
        dsn.write_text(f"postgresql://monitor:{PASSWORD}@127.0.0.1:{pg.port}/postgres\n")
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[[databases]]\nname = "orders"\nengine = "postgresql"\ndsn_file = "{dsn}"\n'
                       'interval = "1s"\ntimeout = "10s"\nslow_ms = 10\n')
        store_path = tmp_path / "store.sqlite"
        p = subprocess.Popen([sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rows: dict[float, dict] = {}
        work: threading.Thread | None = None

        def slow() -> None:
            subprocess.run([*pg.psql_args(), "-f", "-"], input="SELECT count(*) FROM pg_sleep(0.02);\n" * 50,
                           text=True, check=True, capture_output=True, timeout=60)

        try:
            deadline = time.monotonic() + 40
            done_at = None
            while time.monotonic() < deadline:
                time.sleep(0.2)
                try:
                    with Store(store_path, readonly=True) as s:
                        latest = s.latest("db", "orders", raw=False)
                except StoreError:
                    continue  # not made yet
                if not latest:
                    continue
                row = latest[0]["data"]
                rows[row["t"]] = row
                if work is None and row.get("up"):
                    work = threading.Thread(target=slow)
                    work.start()
                if work is not None and not work.is_alive() and done_at is None:
                    done_at = row["t"]
                if done_at is not None and row["t"] > done_at + 1.5:
                    # A poll that began after the last slow call has just landed: stop now,
                    # between polls, not with a psql in flight.
                    break
        finally:
            p.terminate()
            out, err = p.communicate(timeout=15)
            if work is not None:
                work.join(60)
        assert p.returncode == 0 and "Traceback" not in err and "Exception ignored" not in err, err

    polled = sorted(rows.values(), key=lambda r: r["t"])
    assert polled and all(r["up"] and not r["errors"] for r in polled), polled[-1]
    assert not any(r.get("reset") for r in polled)
    calls = sum(q["calls"] for r in polled for q in r.get("top_total") or () if "pg_sleep" in q["text"])
    assert calls == 50, [(r["t"], r.get("top_total")) for r in polled]
    assert max(r.get("slow_calls_per_s") or 0 for r in polled) > 5
    with Store(store_path, readonly=True) as s:
        went = {(t.rule, t.target, t.to_state): t.reason for t in s.transitions()}
    # The rules saw the figures: pending (each holds for 2m before it fires), then ok again.
    assert ("slow-calls", "orders", "pending") in went, went
    assert "top query mean" in went[("slow-query-mean", "orders", "pending")] and "> 10 ms" in \
        went[("slow-query-mean", "orders", "pending")]  # the check's slow_ms is its warning
    for f in tmp_path.glob("store.sqlite*"):
        assert PASSWORD.encode() not in f.read_bytes(), f.name
