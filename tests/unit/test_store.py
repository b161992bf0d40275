"""The store: migrations, retention, series reads, concurrency of one writer and readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from opsdash.errors import StoreError
from opsdash.model import Sample
from opsdash.store import SCHEMA_VERSION, Store


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    from opsdash import store as store_mod

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(store_mod._MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO series (id, target, metric, labels) VALUES (1, 'h', 'host.up', '{}')")
    db.execute("INSERT INTO samples VALUES (1, 10.0, 1.0)")
    db.commit()
    db.close()
    with Store(path) as s:
        assert s.history("h", "host.up", 0) == [(10.0, 1.0)]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    plan = db.execute("EXPLAIN QUERY PLAN SELECT t, value FROM samples WHERE series_id = 1 AND t >= 0 ORDER BY t").fetchall()
    assert "COVERING INDEX" in str(plan)
    db.close()


def test_a_newer_store_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer opsdash"):
        Store(path)


def test_series_arrays_and_retention(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as s:
        s.write_samples([Sample(float(t), "web", "host.cpu_percent", t / 10) for t in range(100)])
        s.write_samples([Sample(float(t), "web", "host.disk_percent", 50.0, {"mount": "/"}) for t in range(100)])
        got = {(m, tuple(sorted(lab.items()))): (list(ts), list(vs)) for _, m, lab, ts, vs in s.series_arrays(90)}
        assert got[("host.cpu_percent", ())] == ([float(t) for t in range(90, 100)], [t / 10 for t in range(90, 100)])
        assert list(s.series_arrays(0, metrics=lambda m: m == "host.disk_percent"))[0][2] == {"mount": "/"}
        assert s.prune(now=100.0, retention=50.0) == 100  # t < 50 in both series
        assert len(s.history("web", "host.cpu_percent", 0)) == 50


def test_readers_see_a_writers_commits(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    writer = Store(path)
    reader = Store(path, readonly=True)
    writer.write_samples([Sample(1.0, "h", "host.up", 1.0)])
    assert reader.history("h", "host.up", 0) == [(1.0, 1.0)]
    with pytest.raises(StoreError):
        reader.add_note("readers cannot write", who="me")
    reader.close()
    writer.close()


def test_latest_without_raw_parses_only_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    writer = Store(path)
    reader = Store(path, readonly=True)
    for i in range(3):
        writer.put_latest("host", f"h{i}", "", 10.0, {"state": "ok", "i": i}, raw="=== loadavg ===")
    first = reader.latest("host", raw=False)
    assert [r["target"] for r in first] == ["h0", "h1", "h2"] and all(r["raw"] is None for r in first)
    writer.put_latest("host", "h1", "", 11.0, {"state": "down"}, raw=None)
    writer.put_latest("host", "h3", "", 11.0, {"state": "ok"}, raw=None)
    second = reader.latest("host", raw=False)
    assert [(r["target"], r["data"]["state"]) for r in second] == [("h0", "ok"), ("h1", "down"), ("h2", "ok"), ("h3", "ok")]
    assert second[0] is first[0]  # unchanged rows are not parsed again
    assert reader.latest("host", "h0")[0]["raw"] == "=== loadavg ==="  # the drill-down still gets raw
    reader.close()
    writer.close()


def test_latest_without_raw_notices_deleted_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as writer, Store(path, readonly=True) as reader:
        writer.put_latest("host", "a", "", 1.0, {})
        writer.put_latest("host", "b", "", 1.0, {})
        assert len(reader.latest("host", raw=False)) == 2
        with writer._tx() as db:
            db.execute("DELETE FROM latest WHERE target = 'a'")
        assert [r["target"] for r in reader.latest("host", raw=False)] == ["b"]


def test_latest_without_raw_sees_a_slow_poll_that_writes_an_older_time(tmp_path: Path) -> None:
    # t is when a poll started: a host that timed out writes t=10 after others wrote t=12.
    path = tmp_path / "s.sqlite"
    with Store(path) as writer, Store(path, readonly=True) as reader:
        writer.put_latest("host", "fast", "", 12.0, {"state": "ok"})
        assert [r["target"] for r in reader.latest("host", raw=False)] == ["fast"]
        writer.put_latest("host", "slow", "", 10.0, {"state": "timeout"})
        assert {r["target"]: r["data"]["state"] for r in reader.latest("host", raw=False)} == {
            "fast": "ok", "slow": "timeout"}


def test_alerts_resolve_acks_in_one_query_as_active_ack_does(tmp_path: Path) -> None:
    from opsdash.model import Alert

    store = Store(tmp_path / "s.sqlite")
    now = 1_800_000_000.0
    for i in range(6):
        store.upsert_alert(Alert(f"a{i}", "r", f"h{i}", "warning", "firing", now - 100, 1.0), now)
    store.add_ack("a0", who="ann", note="first", t=now - 50)
    store.add_ack("a0", who="bob", note="second", t=now - 40)  # replaces ann's
    store.add_ack("a1", who="cy", note="expired", expires_at=now - 1, t=now - 30)
    store.add_ack("a2", who="di", note="cleared", t=now - 30)
    store.clear_acks("a2", reason="resolved", t=now - 20)
    store.add_ack("a3", who="ed", note="until later", expires_at=now + 600, t=now - 10)
    got = {a.id: (a.acked, a.ack_by, a.ack_note) for a in store.alerts(now=now)}
    assert got == {
        "a0": (True, "bob", "second"), "a1": (False, None, None), "a2": (False, None, None),
        "a3": (True, "ed", "until later"), "a4": (False, None, None), "a5": (False, None, None),
    }
    for i in range(6):  # the same answer as the one-alert lookup
        one = store.active_ack(f"a{i}", now)
        assert (one.who if one else None) == got[f"a{i}"][1]
    store.close()
