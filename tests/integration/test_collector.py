"""The collector and `opsdash collect`: schedules, timeouts, backoff, clean stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from opsdash.store import Store
from tests.support.sshd import Sshd, free_port

pytestmark = pytest.mark.integration


async def test_a_hung_host_never_delays_the_others(sshd: Sshd, silent_listener: int) -> None:
    cfg = parse_config(
        '[defaults]\ninterval = "1s"\ntimeout = "2s"\n'
        + "".join(sshd.host_toml(f"good-{i}") for i in range(5))
        + sshd.host_toml("hung", port=silent_listener)
        + sshd.host_toml("refused", port=free_port())
    )
    c = Collector(cfg)
    stats = await c.run(duration=6.0)
    by_target = {j.target: j for j in c.jobs}
    for i in range(5):
        job = by_target[f"good-{i}"]
        assert job.polls >= 4, (job.target, job.polls)  # ~1/s for 6 s, first poll jittered up to 1 s
        assert job.polls_failed == 0 and job.polls_late == 0
    assert c.hosts["hung"].state == "timeout"
    assert c.hosts["refused"].state == "unreachable"
    # Backoff: a refused host is not hammered every second.
    assert by_target["refused"].polls <= 4, by_target["refused"].polls
    assert stats["polls_late"] == 0
    assert stats["loop_lag_ms"]["max"] < 500


async def test_results_are_written_to_the_store(sshd: Sshd, tmp_path: Path) -> None:
    cfg = parse_config('[defaults]\ninterval = "1s"\n' + sshd.host_toml("web-1"))
    store = Store(tmp_path / "s.sqlite")
    c = Collector(cfg, store)
    await c.run(duration=3.0)
    rows = store.latest("host")
    assert rows and rows[0]["data"]["state"] == "ok" and rows[0]["raw"].startswith("=== loadavg ===")
    cpu = store.history("web-1", "host.mem_percent", 0)
    assert len(cpu) >= 2
    assert store.collector_status()["pid"] == os.getpid()
    store.close()


def test_collect_stops_cleanly_on_sigterm_and_writes_stats(sshd: Sshd, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[defaults]\ninterval = "1s"\n' + sshd.host_toml("web-1") + sshd.host_toml("web-2"))
    stats = tmp_path / "stats.json"
    store = tmp_path / "store.sqlite"
    p = subprocess.Popen(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store),
         "--stats-json", str(stats)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if store.exists():
            with Store(store) as s:
                if all(len(s.history(h, "host.up", 0)) >= 2 for h in ("web-1", "web-2")):
                    break
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    assert "Traceback" not in err
    data = json.loads(stats.read_text())
    assert set(data) >= {"duration_s", "hosts", "polls", "polls_failed", "polls_late", "loop_lag_ms", "cpu_s", "peak_rss_mb"}
    assert data["hosts"] == 2 and data["polls"] >= 4 and data["polls_failed"] == 0
    with Store(store) as s:
        assert len(s.history("web-1", "host.up", 0)) >= 2


def test_collect_duration_ends_by_itself(sshd: Sshd, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[defaults]\ninterval = "1s"\n' + sshd.host_toml("web-1"))
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(tmp_path / "s.sqlite"),
         "--duration", "3s", "--stats-json", str(tmp_path / "st.json")],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert 3 <= time.monotonic() - t0 < 20
    assert json.loads((tmp_path / "st.json").read_text())["polls"] >= 2


async def test_refresh_now_runs_every_job_at_once(sshd: Sshd) -> None:
    import asyncio

    cfg = parse_config('[defaults]\ninterval = "1h"\n' + sshd.host_toml("web-1"))
    c = Collector(cfg)
    task = asyncio.create_task(c.run())
    for _ in range(100):
        await asyncio.sleep(0.05)
        if c.hosts["web-1"].state == "ok":  # the first poll has finished
            break
    first = c.jobs[0].polls
    c.refresh_now()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if c.jobs[0].polls > first:
            break
    c.stop()
    await task
    assert c.jobs[0].polls == first + 1
    assert c.jobs[0].polls_late == 0


async def test_hosts_removed_from_the_config_leave_the_store_latest_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.put_latest("host", "retired-1", "", 1.0, {"state": "ok"})
    store.put_latest("endpoint", "old-site", "local", 1.0, {"state": "ok"})
    c = Collector(parse_config('[[hosts]]\nname = "self"\nprobes = ["local"]\ninterval = "1s"\n'), store)
    await c.run(duration=1.5)
    assert [r["target"] for r in store.latest("host")] == ["self"]
    assert store.latest("endpoint") == []
    store.close()
