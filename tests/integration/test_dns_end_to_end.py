"""DNS checks through the real commands: ``opsdash once`` against a loopback DNS server
gives each check its state and each failure its alert with the reason and a runbook, and
the recent resolve times (p50/p95) survive a collector restart through the store."""

from __future__ import annotations

import json
import time
import subprocess
import sys
from pathlib import Path

import pytest

from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from opsdash.store import Store
from tests.support.dns_server import Answer, DNSServer

ZONE = {"shop.test": Answer("A", ["203.0.113.10"]), "moved.test": Answer("A", ["198.51.100.9"]),
        "fail.test": Answer(rcode="SERVFAIL")}


@pytest.fixture(scope="module")
def server():
    with DNSServer(ZONE) as srv:
        yield srv


def _config(server: DNSServer, checks: list[tuple[str, str]]) -> str:
    return "".join(f'[[dns]]\nname = "{n}"\nquery = "{q}"\nserver = "{server.address}"\n'
                   f'expect = ["203.0.113.10"]\ntimeout = "2s"\n' for n, q in checks)


def test_once_shows_each_check_state_and_pages_each_failure_with_its_reason(server, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(_config(server, [("right", "shop.test"), ("wrong", "moved.test"), ("gone", "gone.test"),
                                    ("broken", "fail.test")]))
    r = subprocess.run([sys.executable, "-m", "opsdash", "once", "--format", "json", "--probe", "dns",
                        "--config", str(cfg)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stderr  # CRITICAL
    snap = json.loads(r.stdout)
    checks = {c["name"]: c for c in snap["checks"] if c["kind"] == "dns"}
    assert {n: (c["state"], c["level"]) for n, c in checks.items()} == {
        "right": ("ok", "ok"), "wrong": ("wrong", "critical"), "gone": ("NXDOMAIN", "critical"),
        "broken": ("SERVFAIL", "critical")}
    assert checks["right"]["p95_ms"] is not None and checks["right"]["answers"] == ["203.0.113.10"]
    alerts = {(a["rule"], a["target"]): a for a in snap["alerts"] if a["state"] == "firing"}
    assert set(alerts) == {("dns-wrong-answer", "wrong"), ("dns-failed", "gone"), ("dns-failed", "broken")}
    assert alerts[("dns-failed", "gone")]["summary"] == "gone from local: does not resolve: NXDOMAIN for gone.test"
    assert alerts[("dns-failed", "broken")]["summary"].endswith(f"SERVFAIL from {server.address}")
    assert alerts[("dns-wrong-answer", "wrong")]["summary"] == (
        "wrong from local: wrong answer: answer 198.51.100.9, expected 203.0.113.10")
    assert all("dig " in a["runbook"] for a in alerts.values())


async def test_recent_resolve_times_survive_a_collector_restart(server, tmp_path: Path) -> None:
    cfg = parse_config(_config(server, [("right", "shop.test")]))
    times = []
    for _ in range(3):  # three collectors, one after the other, on one store
        with Store(tmp_path / "s.sqlite") as store:
            await Collector(cfg, store).snapshot_once(probes={"dns"})
            (row,) = [r["data"] for r in store.latest("dns", raw=False) if r["target"] == "right"]
            times.append(row["recent_ms"])
    assert [len(t) for t in times] == [1, 2, 3]
    assert times[2][:2] == times[1] and times[1][:1] == times[0]
    assert row["p50_ms"] == pytest.approx(sorted(times[2])[1], abs=0.02)


async def test_the_latency_pane_shows_the_state_word_and_colours_p95_by_the_rules(tmp_path: Path) -> None:
    from opsdash.alerts.rules import rules_from_config
    from opsdash.alerts.severity import Severity
    from opsdash.ui.data import build_view, load_snapshot

    zone = {**ZONE, "slow.test": Answer("A", ["203.0.113.10"], delay=0.3)}
    with DNSServer(zone) as srv:
        cfg = parse_config(_config(srv, [("right", "shop.test"), ("slow", "slow.test"), ("wrong", "moved.test"),
                                         ("gone", "gone.test")]))
        with Store(tmp_path / "s.sqlite") as store:
            await Collector(cfg, store).snapshot_once(probes={"dns"})
            view = build_view(load_snapshot(store, time.time()), severity=Severity(rules_from_config(cfg)))
    rows = {r.ref.target: r.cells for r in view.rows["latency"]}
    assert {n: c[0] for n, c in rows.items()} == {
        "right": ("● ok", "ok"), "slow": ("▲ slow", "warn"), "wrong": ("✖ wrong", "crit"),
        "gone": ("✖ NXDOMAIN", "crit")}
    p95 = {n: c[4] for n, c in rows.items()}  # the p95 slot, coloured by dns-slow (warn 200 ms)
    assert p95["slow"][1] == "warn" and 300 <= int(p95["slow"][0]) < 1000 and p95["right"][1] == "ok"
