"""HitRateTracker: window deltas, restarts, bounds. Time is passed in."""

from __future__ import annotations

import pytest

from opsdash.kinds.cache_rate import HitRateTracker
from opsdash.model import CacheCounters, CacheStats


def C(hits, misses, ops=None, uptime=None) -> CacheCounters:
    return CacheCounters(hits=hits, misses=misses, ops=ops, uptime_s=uptime)


def test_no_reading():
    assert HitRateTracker().stats("s", "redis", 100.0) == CacheStats("s", "redis", None, 0, 0, None, None)


def test_one_reading_is_lifetime_and_window_none():
    t = HitRateTracker(window_s=60)
    t.add(1000.0, C(50, 20, ops=124, uptime=62.0))
    s = t.stats("sessions", "redis", 1000.0)
    assert s.hit_rate == pytest.approx(50 / 70)
    assert (s.hits, s.misses, s.window_s) == (50, 20, None)
    assert s.ops_per_s == pytest.approx(2.0)  # 124 commands over 62 s of uptime


def test_one_reading_without_lookups_has_no_rate():
    t = HitRateTracker()
    t.add(0.0, C(0, 0))
    assert t.stats("x", "memcached", 0.0).hit_rate is None


def test_window_uses_deltas_not_lifetime():
    t = HitRateTracker(window_s=60)
    t.add(0.0, C(1_000_000, 0, ops=1_000_000))  # a long, perfect history
    t.add(15.0, C(1_000_010, 10, ops=1_000_030))  # then 50 % in the window
    t.add(30.0, C(1_000_020, 20, ops=1_000_060))
    s = t.stats("x", "redis", 30.0)
    assert s.hit_rate == pytest.approx(0.5)
    assert (s.hits, s.misses, s.window_s) == (20, 20, 30.0)
    assert s.ops_per_s == pytest.approx(2.0)


def test_window_slides():
    t = HitRateTracker(window_s=60)
    t.add(0.0, C(0, 0))
    t.add(30.0, C(30, 0))  # 30 hits
    t.add(60.0, C(30, 30))  # 30 misses
    t.add(90.0, C(30, 60))  # 30 misses
    s = t.stats("x", "redis", 90.0)
    # Window [30, 90]: base is the reading at 30.
    assert (s.hits, s.misses, s.window_s) == (0, 60, 60.0)
    assert s.hit_rate == 0.0


def test_gap_longer_than_window_still_uses_the_last_two_readings():
    t = HitRateTracker(window_s=60)
    t.add(0.0, C(10, 10))
    t.add(500.0, C(40, 20))
    s = t.stats("x", "redis", 500.0)
    assert (s.hits, s.misses, s.window_s) == (30, 10, 500.0)
    assert s.hit_rate == pytest.approx(0.75)


def test_no_lookups_in_window_is_none_not_zero():
    t = HitRateTracker(window_s=60)
    t.add(0.0, C(5, 5, ops=10))
    t.add(15.0, C(5, 5, ops=12))
    s = t.stats("x", "redis", 15.0)
    assert s.hit_rate is None and s.ops_per_s == pytest.approx(2 / 15)


def test_restart_counter_goes_down_no_negative_no_spike():
    t = HitRateTracker(window_s=300)
    t.add(0.0, C(1000, 100, ops=5000, uptime=1000))
    t.add(15.0, C(1010, 110, ops=5040, uptime=1015))
    t.add(30.0, C(6, 4, ops=20, uptime=10))  # restarted 10 s ago
    s = t.stats("x", "redis", 30.0)
    assert t.resets == 1
    # Window = (10 hits, 10 misses) before + (6, 4) since the restart.
    assert (s.hits, s.misses) == (16, 14)
    assert s.hit_rate == pytest.approx(16 / 30)
    assert s.ops_per_s == pytest.approx((40 + 20) / 30)
    assert s.hits >= 0 and s.misses >= 0 and s.ops_per_s >= 0


def test_restart_seen_only_through_uptime():
    # After the restart the counters are already above the old values: only
    # uptime (8 s, though 100 s passed since a reading at uptime 50) tells.
    t = HitRateTracker(window_s=300)
    t.add(0.0, C(10, 10, ops=20, uptime=50))
    t.add(100.0, C(15, 12, ops=30, uptime=8))
    s = t.stats("x", "memcached", 100.0)
    assert t.resets == 1
    assert (s.hits, s.misses) == (15, 12)  # all since the restart, not 5 / 2


def test_uptime_jitter_is_not_a_restart():
    t = HitRateTracker(window_s=300)
    t.add(0.0, C(10, 10, uptime=100))
    t.add(15.0, C(20, 10, uptime=113))  # read 2 s "early": still the same process
    assert t.resets == 0
    assert t.stats("x", "redis", 15.0).hits == 10


def test_resetstat_without_restart():
    t = HitRateTracker(window_s=300)
    t.add(0.0, C(100, 50, uptime=100))
    t.add(15.0, C(3, 1, uptime=115))  # CONFIG RESETSTAT: counters down, uptime on
    s = t.stats("x", "redis", 15.0)
    assert t.resets == 1 and (s.hits, s.misses) == (3, 1)


def test_out_of_order_and_duplicate_readings_are_ignored():
    t = HitRateTracker(window_s=300)
    t.add(10.0, C(10, 0))
    t.add(10.0, C(999, 0))  # same time: would be a delta over no time
    t.add(5.0, C(0, 0))  # older than the last
    t.add(20.0, C(20, 10))
    s = t.stats("x", "redis", 20.0)
    assert (s.hits, s.misses, s.window_s) == (10, 10, 10.0)
    assert len(t) == 2


def test_readings_after_now_are_not_used():
    t = HitRateTracker(window_s=300)
    t.add(0.0, C(0, 0))
    t.add(10.0, C(10, 0))
    t.add(20.0, C(10, 10))
    assert t.stats("x", "redis", 10.0).hit_rate == 1.0


def test_memory_is_bounded_by_window_and_max_samples():
    t = HitRateTracker(window_s=60, max_samples=1000)
    for i in range(10_000):
        t.add(float(i), C(i, i))
    assert len(t) <= 62  # the window plus one older reading
    small = HitRateTracker(window_s=10_000, max_samples=50)
    for i in range(10_000):
        small.add(float(i), C(2 * i, i))
    assert len(small) == 50
    s = small.stats("x", "redis", 9999.0)
    assert s.window_s == 49.0 and s.hit_rate == pytest.approx(2 / 3)


def test_ops_missing_gives_no_ops_rate():
    t = HitRateTracker()
    t.add(0.0, C(1, 1, ops=10))
    t.add(10.0, C(2, 2, ops=None))
    t.add(20.0, C(3, 3, ops=50))
    s = t.stats("x", "varnish", 20.0)
    assert s.ops_per_s is None and s.hit_rate == 0.5


def test_bad_arguments():
    with pytest.raises(ValueError):
        HitRateTracker(window_s=0)
    with pytest.raises(ValueError):
        HitRateTracker(max_samples=1)
