"""node_exporter gauges that read NaN, +Inf or -Inf: that figure is unknown (null), the
host's other figures are shown, and nothing raises. Pure functions first (every gauge
node_health reads, each of the three values), then ``opsdash once`` against a loopback
server speaking the Prometheus API (tests/support/fake_prometheus.py)."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from opsdash.cli import main
from opsdash.collect import prom
from tests.support import REPO
from tests.support.fake_prometheus import ALL_GAUGES, BASELINE, FakePrometheus, expected_health, node_reply

ROOT = REPO
VALUES = ("NaN", "+Inf", "-Inf")


def reading(gauge: str, value: str) -> prom.NodeReading:
    vectors = {k: prom.parse_vector(node_reply(q, gauge, value)) for k, q in prom.host_queries({}).items()}
    [r] = prom.node_health(**vectors)
    return r


def test_finite_gauges_give_the_baseline_host() -> None:
    r = reading("none", "none")
    assert r.up and r.error is None and r.health is not None
    assert r.health.to_json() == BASELINE


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("gauge", ALL_GAUGES)
def test_a_nan_or_infinite_gauge_is_unknown_and_the_rest_shown(gauge: str, value: str) -> None:
    r = reading(gauge, value)
    assert r.up and r.error is None and r.health is not None, r
    assert r.health.to_json() == expected_health(gauge)
    samples = r.health.samples(1.0, "h")
    assert all(math.isfinite(s.value) for s in samples), samples
    assert {s.metric for s in samples} >= {"host.up"}


@pytest.mark.parametrize("value", VALUES)
def test_every_gauge_non_finite_leaves_a_host_that_is_up_with_nothing_known(value: str) -> None:
    r = reading("all", value)
    assert r.up and r.health is not None and r.error is None
    h = r.health.to_json()
    assert h["disks"] == [] and all(h[k] is None for k in (
        "cpu_percent", "mem_percent", "swap_percent", "load1", "load5", "load15", "cpus", "uptime_s"))
    assert [s.metric for s in r.health.samples(1.0, "h")] == ["host.up"]


def _strict(text: str) -> Any:
    def no_constants(c: str) -> Any:
        raise AssertionError(f"{c} in the JSON output")
    return json.loads(text, parse_constant=no_constants)


def test_once_shows_each_hosts_known_figures_and_null_for_the_non_finite_one(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # `opsdash once` through the CLI's entry point in this process (stdout and stderr captured
    # at the file descriptors): the same output without two Python start-ups.
    monkeypatch.setenv("OPSDASH_CONFIG", "/nonexistent")
    monkeypatch.chdir(ROOT)
    capfd.readouterr()

    def once(*args: str) -> subprocess.CompletedProcess:
        rc = main(["once", *args])
        out = capfd.readouterr()
        return subprocess.CompletedProcess(["opsdash", "once", *args], rc, out.out, out.err)

    fake = FakePrometheus()
    try:
        cases = {g: VALUES[i % 3] for i, g in enumerate(ALL_GAUGES)}  # every gauge, the three values in turn
        cfg = tmp_path / "config.toml"
        cfg.write_text("".join(
            f'[[sources]]\nkind = "prometheus"\nname = "p-{g}"\nurl = "{fake.url}/node/{g}/{v}"\ntimeout = "5s"\n\n'
            for g, v in cases.items()))
        r = once("--format", "json", "--config", str(cfg), "--store", str(tmp_path / "s.db"))
        assert "Traceback" not in r.stderr, r.stderr
        snap = _strict(r.stdout)  # NaN/Infinity would not be JSON
        hosts = {h["name"]: h for h in snap["hosts"]}
        for g in cases:
            h = hosts.get(f"n-{g}")
            assert h, (g, sorted(hosts), r.stderr)
            assert h["state"] == "ok" and h["error"] is None, h
            assert h["health"] == expected_health(g), g
        text = once("--config", str(cfg), "--store", str(tmp_path / "s.db"))
        assert "Traceback" not in text.stderr and text.returncode in (0, 1, 2), text.stderr
        assert not re.search(r"\b(nan|inf)\b", text.stdout, re.I), text.stdout
        lines = {ln.split()[0]: ln.split()[1:] for ln in text.stdout.splitlines() if ln.startswith("  n-")}
        # cpu mem disk load/cpu uptime (mount): the unknown one is "-", the rest shown
        assert lines["n-node_load1"][1:6] == ["12.5%", "25.0%", "73.7%", "-", "1d"], lines
        assert lines["n-cpu"][1:6] == ["-", "25.0%", "73.7%", "0.12", "1d"], lines
        assert lines["n-cpus"][1:6] == ["12.5%", "25.0%", "73.7%", "-", "1d"], lines
        mem = next(v for k, v in lines.items() if k.startswith("n-node_memory_MemTotal"))
        assert mem[1:6] == ["12.5%", "-", "73.7%", "0.12", "1d"], lines
    finally:
        fake.close()


@pytest.mark.parametrize("gauge", ["all", "cpus", "node_load1", "node_memory_MemTotal_bytes"])
def test_the_health_pane_shows_unknown_figures_as_a_dash_and_the_rest(gauge: str) -> None:
    from opsdash.ui import data

    health = reading(gauge, "NaN").health
    assert health is not None
    now = 1_800_000_000.0
    row = {"target": "h", "t": now, "data": {"state": "ok", "t": now, "interval": 15.0, "health": health.to_json()}}
    [r] = data.build_view(data.Snapshot(now=now, hosts=[row])).rows["health"]
    cells = [text for text, _ in r.cells]
    cpu, mem, disk, load = cells[2:6]
    if gauge == "all":
        assert (cpu, mem, disk, load) == ("—", "—", "—", "—")
        assert "up?" in cells[0]  # up, and nothing known about it
        return
    assert cpu == "12%" and disk == "74% /"
    assert mem == ("—" if gauge.startswith("node_memory") else "25%")
    assert load == ("—" if gauge in ("cpus", "node_load1") else "0.12")
