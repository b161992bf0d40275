"""A source's HTTP reply is read at most ``max_reply`` bytes (32 MiB by default): past it the
reply is dropped with one error on the source's row, and the other targets go on.

Against a loopback server (tests/support/fake_prometheus.py) that streams 3 GB to every query,
announces 3 GB up front, or sends a gzip bomb; last, the real ``opsdash collect``
process against it, its peak RSS read from /proc."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest

from opsdash.collect import alertmanager as am
from opsdash.collect import prom
from opsdash.config import ConfigError, SourceConfig, parse_config
from opsdash.store import Store
from tests.support import REPO
from tests.support.fake_prometheus import FakePrometheus

ROOT = REPO
MiB = 1024 * 1024


@pytest.fixture
def fake():
    f = FakePrometheus()
    yield f
    f.close()


def _cfg(url: str, kind: str = "prometheus", max_reply: int = MiB) -> SourceConfig:
    return SourceConfig(kind=kind, name="flood", url=url, timeout=10.0, max_reply=max_reply)


def _settle(fake: FakePrometheus) -> int:
    """What the server managed to send once the client hung up (it stops on EPIPE)."""
    time.sleep(0.3)
    return fake.flood_sent


async def test_a_streamed_reply_past_the_cap_is_dropped_with_one_error(fake: FakePrometheus) -> None:
    cfg = _cfg(fake.url + "/flood")
    async with prom.http_client(cfg) as c:
        with pytest.raises(prom.ReplyTooLarge) as e:
            await prom.query(c, cfg, "up")
    assert str(e.value) == "prometheus flood: GET /api/v1/query: reply over 1 MiB; dropped"
    assert e.value.state == "error"
    assert _settle(fake) < 64 * MiB  # the connection was closed: 3 GB were not read


async def test_a_reply_announcing_more_than_the_cap_is_not_read(fake: FakePrometheus) -> None:
    cfg = _cfg(fake.url + "/declared")
    async with prom.http_client(cfg) as c:
        with pytest.raises(prom.ReplyTooLarge, match=r"reply over 1 MiB; dropped"):
            await prom.query(c, cfg, "up")


async def test_a_gzip_bomb_never_inflates_past_the_cap(fake: FakePrometheus) -> None:
    cfg = _cfg(fake.url + "/gzipbomb")
    tracemalloc.start()
    try:
        async with prom.http_client(cfg) as c:
            with pytest.raises(prom.ReplyTooLarge, match=r"reply over 1 MiB; dropped"):
                await prom.query(c, cfg, "up")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 64 MiB once inflated; httpx's own decoder would hold tens of MiB from one 64 KiB chunk.
    assert peak < 8 * MiB, peak


async def test_alertmanager_replies_go_through_the_same_cap(fake: FakePrometheus) -> None:
    cfg = _cfg(fake.url + "/flood", kind="alertmanager")
    async with prom.http_client(cfg) as c:
        with pytest.raises(prom.ReplyTooLarge) as e:
            await am._get_json(c, cfg, "/api/v2/alerts")
    assert str(e.value) == "alertmanager flood: GET /api/v2/alerts: reply over 1 MiB; dropped"


async def test_silences_pushed_to_alertmanager_go_through_the_same_cap(fake: FakePrometheus) -> None:
    cfg = _cfg(fake.url + "/flood", kind="alertmanager")
    with pytest.raises(prom.ReplyTooLarge, match=r"^alertmanager flood: POST /api/v2/silences: reply over 1 MiB"):
        await am.create_alertmanager_silence(cfg, {"alertname": "X"}, time.time() + 60, "me", "note")
    with pytest.raises(prom.ReplyTooLarge, match=r"^alertmanager flood: DELETE /api/v2/silence/abc-1: reply over"):
        await am.expire_alertmanager_silence(cfg, "abc-1")


async def test_concurrent_queries_of_one_source_read_one_body_at_a_time(fake: FakePrometheus) -> None:
    cfg = _cfg(fake.url + "/flood", max_reply=4 * MiB)
    tracemalloc.start()
    try:
        async with prom.http_client(cfg) as c:
            res = await asyncio.gather(*(prom.query(c, cfg, f"q{i}") for i in range(6)), return_exceptions=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(isinstance(r, prom.ReplyTooLarge) for r in res), res
    assert peak < 2 * 4 * MiB + 2 * MiB, peak  # one capped body (and its growth), not six


async def test_a_reply_under_the_cap_is_read_whole(fake: FakePrometheus) -> None:
    cfg = _cfg(fake.url + "/node/none/none", max_reply=4 * 1024)
    async with prom.http_client(cfg) as c:
        v = await prom.query(c, cfg, "up{}")
    assert v == [({"__name__": "up", "instance": "n-none:9100", "job": "node"}, 1.0)]


def test_max_reply_is_a_size_per_source() -> None:
    def src(value: str) -> str:
        return f'[[sources]]\nkind = "prometheus"\nname = "p"\nurl = "http://127.0.0.1:9090"\nmax_reply = {value}\n'

    assert parse_config(src('"32MiB"')).sources[0].max_reply == 32 * MiB
    assert parse_config(src('"512KiB"')).sources[0].max_reply == 512 * 1024
    assert parse_config(src("2097152")).sources[0].max_reply == 2 * MiB
    default = parse_config('[[sources]]\nkind = "alertmanager"\nname = "a"\nurl = "http://127.0.0.1:9093"\n')
    assert default.sources[0].max_reply == 32 * MiB
    for bad in ('"lots"', "0", '"12"', "true", '"1e9"'):
        with pytest.raises(ConfigError) as e:
            parse_config(src(bad))
        assert "sources[0].max_reply: expected a size" in str(e.value), (bad, str(e.value))


# --- the real collector ------------------------------------------------------------------------


def _wait(what: str, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_collect_survives_a_prometheus_streaming_3_gb(tmp_path: Path, fake: FakePrometheus) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[[hosts]]
name = "box"
probes = ["local"]
interval = "1s"

[[endpoints]]
name = "ok"
url = "{fake.url}/ok"
interval = "1s"

[[sources]]                       # every query answered with 3 GB; default max_reply (32 MiB)
kind = "prometheus"
name = "flood"
url = "{fake.url}/flood"
interval = "2s"
timeout = "10s"

[[sources]]
kind = "alertmanager"
name = "am-flood"
url = "{fake.url}/flood"
interval = "2s"
timeout = "10s"

[[sources]]                       # a healthy Prometheus, one of whose gauges is NaN
kind = "prometheus"
name = "good"
url = "{fake.url}/node/node_load1/NaN"
interval = "1s"
""")
    store_path, stats_path = tmp_path / "s.db", tmp_path / "stats.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store_path),
         "--stats-json", str(stats_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "OPSDASH_CONFIG": "/nonexistent"})
    try:
        _wait("the store", store_path.exists)
        store = Store(store_path)
        try:
            def source(name: str) -> dict[str, Any] | None:
                rows = [r["data"] for r in store.latest("source") if r["target"] == name]
                return rows[0] if rows else None

            flood = _wait("the flood source's error", lambda: (s := source("flood")) and s["state"] == "error" and s)
            assert flood["error"] == "prometheus flood: GET /api/v1/query: reply over 32 MiB; dropped", flood
            am_flood = _wait("the Alertmanager flood's error",
                             lambda: (s := source("am-flood")) and s["state"] == "error" and s)
            assert am_flood["error"] == "alertmanager am-flood: GET /api/v2/alerts: reply over 32 MiB; dropped"
            # Three polls of each flood source: memory must not grow with them.
            _wait("three polls of the flood sources",
                  lambda: fake.flood_requests("query") >= 18 and fake.flood_requests("alerts") >= 3)
            # Other targets unaffected: the local host, the endpoint, the healthy source.
            box = next(r["data"] for r in store.latest("host") if r["target"] == "box")
            assert box["state"] == "ok" and time.time() - box["t"] < 5, box
            ep = next(r["data"] for r in store.latest("endpoint") if r["target"] == "ok")
            assert ep["state"] == "ok" and time.time() - ep["t"] < 5, ep
            assert source("good")["state"] == "ok"
            node = _wait("the healthy source's host", lambda: [
                r["data"] for r in store.latest("host") if r["target"] == "n-node_load1" and r["data"]["health"]])[0]
            assert node["state"] == "ok" and node["health"]["load1"] is None  # NaN: unknown
            assert node["health"]["mem_percent"] == 25.0 and node["health"]["cpus"] == 4  # the rest shown
            metrics = {m for _, m, _ in store.series(target="n-node_load1")}
            assert "host.mem_percent" in metrics and "host.load1_per_cpu" not in metrics
        finally:
            store.close()
        peak_mb = _vm_hwm_mb(proc.pid)  # the high-water mark over the whole run, read just before it ends
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err
    stats = json.loads(stats_path.read_text())
    print(f"collector peak RSS {peak_mb:.0f} MB (stats {stats['peak_rss_mb']} MB), "
          f"{fake.flood_sent / MiB:.0f} MiB streamed, loop lag max {stats['loop_lag_ms']['max']} ms")
    assert max(peak_mb, stats["peak_rss_mb"]) < 250, (peak_mb, stats)
    assert math.isfinite(stats["loop_lag_ms"]["max"])
    assert stats["polls_late"] == 0, stats
