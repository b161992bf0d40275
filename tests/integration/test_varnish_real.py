"""The varnish cache probe against a real varnishd.

Debian's varnishd runs on a free loopback port with its own -n working
directory (tests/support/varnish.py), in front of a real HTTP backend that
counts what reaches it. Requests that miss and then hit are sent; the probe
(read_counters through the LocalRunner, the same `varnishstat -j` command an
SSH host gets) must read exactly those counts.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from opsdash.kinds.cache_rate import HitRateTracker
from opsdash.kinds.cache_counters import read_counters
from opsdash.collect.runner import LocalRunner
from opsdash.config import CacheConfig
from opsdash.errors import ProbeError
from opsdash.model import CacheCounters
from tests.support.varnish import Backend, Varnish

pytestmark = pytest.mark.integration


@pytest.fixture
def backend():
    server = Backend().start()
    yield server
    server.stop()


@pytest.fixture
def varnish(tmp_path, backend):
    # A space and a quote in the instance path: it reaches the shell through quoting.
    server = Varnish(tmp_path / "var nish's", backend.port).start()
    yield server
    server.stop()


def config(v: Varnish) -> CacheConfig:
    return CacheConfig(name="edge", kind="varnish", path=str(v.workdir))


async def counters_after(v: Varnish, requests: int) -> CacheCounters:
    """The probe's reading once varnishd has published `requests` client requests.

    Worker threads fold their counts into the shared counters in batches (when
    idle, or every wthread_stats_rate requests), so the first read may lag.
    """
    end = time.monotonic() + 5
    while True:
        c = await read_counters(LocalRunner(), config(v), timeout=10, state={})
        if (c.ops or 0) >= requests or time.monotonic() > end:
            return c
        await asyncio.sleep(0.05)


async def test_one_miss_then_nine_hits_reads_as_ninety_percent(varnish, backend):
    for _ in range(10):
        assert varnish.get("/page") == b"page /page\n"
    assert backend.requests == 1  # the other nine were answered from the cache

    c = await counters_after(varnish, 10)
    assert (c.hits, c.misses, c.ops) == (9, 1, 10)
    assert c.uptime_s is not None and 0 <= c.uptime_s < 60

    tracker = HitRateTracker(window_s=300)
    now = time.time()
    tracker.add(now, c)
    assert tracker.stats("edge", "varnish", now).hit_rate == pytest.approx(0.9)


async def test_window_hit_rate_counts_only_lookups_since_the_last_poll(varnish, backend):
    tracker = HitRateTracker(window_s=300)
    for _ in range(5):
        varnish.get("/warm")  # 1 miss, 4 hits: 80 % over the lifetime
    first = await counters_after(varnish, 5)
    assert (first.hits, first.misses) == (4, 1)
    tracker.add(time.time(), first)

    for i in range(3):  # three new objects: each misses once, then hits once
        varnish.get(f"/new-{i}")
        varnish.get(f"/new-{i}")
    second = await counters_after(varnish, 11)
    assert (second.hits, second.misses, second.ops) == (7, 4, 11)
    assert backend.requests == 4
    now = time.time()
    tracker.add(now, second)

    s = tracker.stats("edge", "varnish", now)
    assert (s.hits, s.misses) == (3, 3)
    assert s.hit_rate == pytest.approx(0.5)
    assert tracker.resets == 0


async def test_a_stopped_instance_is_one_clear_probe_error(varnish):
    varnish.stop()
    with pytest.raises(ProbeError) as err:
        await read_counters(LocalRunner(), config(varnish), timeout=10, state={})
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("varnish edge: exit 1:")
    assert "varnishd" in msg  # varnishstat's own line: "Could not get hold of varnishd, is it running?"
