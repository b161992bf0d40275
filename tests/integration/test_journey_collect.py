"""A journey through a real `opsdash collect`: its rows keep the durations for p50/p95 across
runs, the Latency pane shows them coloured by the journey's own max_duration, and the
password read from its file is nowhere in the store's files."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from opsdash.alerts.severity import Severity
from opsdash.config import load_config
from opsdash.errors import StoreError
from opsdash.store import Store
from opsdash.ui.data import build_view, load_snapshot
from tests.support.shop_app import ShopApp, checkout_steps_toml

PASSWORD = "collect-Pa55-9f1c2e"


def test_collect_keeps_journey_percentiles_and_never_stores_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "synthetic.pass"
    secret.write_text(PASSWORD + "\n")
    with ShopApp(password=PASSWORD, delay_s=0.04) as shop:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'''
[[journeys]]
name = "checkout"
interval = "1s"
timeout = "5s"
max_duration = "100ms"
{checkout_steps_toml(shop, secret)}''')
        store_path = tmp_path / "store.sqlite"
        p = subprocess.Popen([sys.executable, "-m", "opsdash", "collect", "--config", str(cfg),
                              "--store", str(store_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            row: dict = {}
            while time.monotonic() < deadline and len(row.get("recent") or ()) < 2:
                time.sleep(0.5)
                try:
                    with Store(store_path, readonly=True) as s:
                        rows = s.latest("journey", "checkout", raw=False)
                except StoreError:  # not there yet, or the collector is still creating its schema
                    continue
                row = rows[0]["data"] if rows else {}
        finally:
            p.terminate()
            out, err = p.communicate(timeout=15)
        assert p.returncode == 0 and "Traceback" not in err, err

    assert row["ok"] is True and len(row["recent"]) >= 2, row
    assert min(row["recent"]) <= row["p50_ms"] <= row["p95_ms"] <= max(row["recent"])
    assert [s["status"] for s in row["steps"]] == [302, 200, 200]

    with Store(store_path, readonly=True) as s:
        view = build_view(load_snapshot(s, time.time()), severity=Severity.for_config(load_config(cfg)))
    cells = {r.key: r for r in view.rows["latency"]}["journey:checkout:local"].cells
    assert cells[3][0] != "—" and cells[4][0] != "—"  # p50, p95
    assert cells[4][1] == "crit"  # 3 steps of 40 ms each are over this journey's max_duration of 100 ms

    for f in tmp_path.glob("store.sqlite*"):
        assert PASSWORD.encode() not in f.read_bytes(), f.name
