"""A probe kind's row drills down to the kind's own account of it (not a dump of its
fields), and a host's drill-down shows the checks that run on it (kinds whose pane is
"health": slow queries read as a Database section)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console, Group

from opsdash.kinds.registry import by_name
from opsdash.store import Store
from opsdash.ui.data import Ref
from opsdash.ui.detail import DetailScreen

NOW = 1_800_000_000.0


def _text(store_path: Path, ref: Ref) -> str:
    with Store(store_path, readonly=True) as s:
        parts = DetailScreen(ref, store_path, lambda: NOW, {}).build(s, NOW)
    console = Console(width=120, file=io.StringIO(), color_system=None, record=True)
    console.print(Group(*parts))
    return console.export_text(styles=False)


def test_a_dns_row_drills_down_to_the_kinds_own_lines(tmp_path: Path) -> None:
    dns = by_name("dns")
    assert dns is not None
    row = {"query": "api.demo", "type": "A", "server": "127.0.0.1:5353", "vantage": "local", "state": "wrong",
           "ok": False, "reason": "answer 198.51.100.7, expected 203.0.113.20", "rcode": "NOERROR",
           "answers": ["198.51.100.7"], "expected": ["203.0.113.20"], "resolve_ms": 6.4, "recent_ms": [6.4],
           "p50_ms": 6.4, "p95_ms": 6.4, "t": NOW - 5, "interval": 10.0}
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        s.put_latest("dns", "api", "local", NOW - 5, row)
    text = _text(path, Ref("dns", "api", "local"))
    assert "DNS api from local" in text
    assert "reason: answer 198.51.100.7, expected 203.0.113.20" in text
    assert "(5s ago)" in text
    assert "\nNow" not in text  # the kind's lines, not the raw fields again


def test_a_hosts_drill_down_lists_the_checks_that_run_on_it(tmp_path: Path) -> None:
    db = by_name("db")
    assert db is not None and db.pane == "health"
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        s.put_latest("host", "db-1", "", NOW - 5, {"name": "db-1", "state": "ok", "health": None, "t": NOW - 5})
        s.put_latest("db", "orders", "db-1", NOW - 5, {"ok": False, "reason": "permission denied for view pg_stat_statements",
                                                       "t": NOW - 5, "interval": 60.0})
        s.put_latest("db", "elsewhere", "db-2", NOW - 5, {"ok": True, "reason": None, "t": NOW - 5, "interval": 60.0})
    text = _text(path, Ref("host", "db-1"))
    assert f"{db.title}: orders" in text
    assert f"{db.title}: elsewhere" not in text
