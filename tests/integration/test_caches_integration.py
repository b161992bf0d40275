"""read_counters against real servers and files on this machine.

redis-server and memcached are started by these tests on free loopback
ports, in tmp dirs, and stopped by PID. The nginx-log tests need only sh,
stat, tail, head and tr on a tmp file.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from opsdash.kinds.cache_rate import HitRateTracker
from opsdash.kinds import cache_counters as caches
from opsdash.kinds.cache_counters import read_counters
from opsdash.collect.runner import LocalRunner
from opsdash.config import CacheConfig
from opsdash.errors import ParseError, ProbeError
from opsdash.model import CacheCounters
from tests.support.servers import Redis, free_port, need, recv_all, resp, start_memcached, stop, wait_listening  # noqa: F401

# --- servers ------------------------------------------------------------------------


@pytest.fixture
def redis(tmp_path):
    need("redis-server", "redis-cli")
    server = Redis(tmp_path, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def memcached(tmp_path):
    port, proc = start_memcached(tmp_path)
    yield port
    stop(proc)


def memcached_talk(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload + b"quit\r\n")
        return recv_all(s)


def only_tools(tmp_path: Path, *tools: str) -> dict[str, str]:
    """An env whose PATH holds just these tools (to play a host without redis-cli)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in ("sh", *tools):
        target = shutil.which(tool)
        assert target, tool
        (bindir / tool).symlink_to(target)
    return {"PATH": str(bindir)}


class PathRunner(LocalRunner):
    """LocalRunner with a fixed environment, so a tool can be made "missing"."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    async def run(self, command, *, timeout, env=None, input=None):
        return await super().run(command, timeout=timeout, env={**self.env, **(env or {})}, input=input)


# --- redis ------------------------------------------------------------------------------


@pytest.mark.integration
async def test_redis_exact_hit_rate(redis):
    redis.hits_and_misses(hits=7, misses=3)
    cfg = CacheConfig(name="sessions", kind="redis", address=f"127.0.0.1:{redis.port}")
    c = await read_counters(LocalRunner(), cfg, timeout=10, state={})
    assert (c.hits, c.misses) == (7, 3)
    assert c.uptime_s is not None and c.ops is not None and c.ops >= 11
    tracker = HitRateTracker(window_s=300)
    tracker.add(time.time(), c)
    assert tracker.stats("sessions", "redis", time.time()).hit_rate == pytest.approx(0.7)


@pytest.mark.integration
async def test_redis_restart_between_reads_gives_no_negative_and_no_spike(redis):
    cfg = CacheConfig(name="sessions", kind="redis", address=f"127.0.0.1:{redis.port}")
    runner, tracker = LocalRunner(), HitRateTracker(window_s=300)

    async def poll() -> CacheCounters:
        c = await read_counters(runner, cfg, timeout=10, state={})
        tracker.add(time.time(), c)
        return c

    redis.hits_and_misses(hits=8, misses=2)
    await poll()
    redis.hits_and_misses(hits=3, misses=2)  # window so far: 3 hits, 2 misses
    second = await poll()
    assert (second.hits, second.misses) == (11, 4)

    redis.stop()
    redis.start()  # counters back to zero
    redis.hits_and_misses(hits=1, misses=4)
    third = await poll()
    assert (third.hits, third.misses) == (1, 4)

    s = tracker.stats("sessions", "redis", time.time())
    assert tracker.resets == 1
    assert (s.hits, s.misses) == (3 + 1, 2 + 4)
    assert s.hit_rate == pytest.approx(4 / 10)
    assert s.ops_per_s is not None and s.ops_per_s >= 0


@pytest.mark.integration
async def test_redis_password_file_read_on_the_host(tmp_path):
    need("redis-server", "redis-cli")
    server = Redis(tmp_path, free_port(), password="s3cret with 'quotes' $x")
    server.start()
    try:
        server.hits_and_misses(hits=2, misses=1)
        pw = tmp_path / "redis.pass"
        pw.write_text(server.password + "\n")
        cfg = CacheConfig(name="s", kind="redis", address=f"127.0.0.1:{server.port}", password_file=str(pw))
        c = await read_counters(LocalRunner(), cfg, timeout=10, state={})
        assert (c.hits, c.misses) == (2, 1)

        # Same through the RESP fallback on a host without redis-cli.
        env = only_tools(tmp_path, "bash", "cat", "timeout")
        c = await read_counters(PathRunner(env), cfg, timeout=10, state={})
        assert (c.hits, c.misses) == (2, 1) and c.uptime_s is not None

        # No password: Redis' NOAUTH, not a parse error or zeros.
        no_pw = CacheConfig(name="s", kind="redis", address=f"127.0.0.1:{server.port}")
        with pytest.raises(ProbeError, match="NOAUTH") as exc:
            await read_counters(LocalRunner(), no_pw, timeout=10, state={})
        assert not isinstance(exc.value, ParseError)

        missing = CacheConfig(name="s", kind="redis", address=f"127.0.0.1:{server.port}",
                              password_file=str(tmp_path / "nope"))
        with pytest.raises(ProbeError, match="cannot read the password file"):
            await read_counters(LocalRunner(), missing, timeout=10, state={})
    finally:
        server.stop()


@pytest.mark.integration
async def test_redis_without_redis_cli_falls_back_to_resp_over_bash(redis, tmp_path):
    redis.hits_and_misses(hits=5, misses=5)
    cfg = CacheConfig(name="s", kind="redis", address=f"127.0.0.1:{redis.port}")
    env = only_tools(tmp_path, "bash", "cat", "timeout")
    c = await read_counters(PathRunner(env), cfg, timeout=10, state={})
    assert (c.hits, c.misses) == (5, 5) and c.uptime_s is not None


async def test_redis_nothing_to_talk_with_is_a_clear_error(tmp_path):
    cfg = CacheConfig(name="s", kind="redis", address="127.0.0.1:1")
    env = only_tools(tmp_path, "cat")
    with pytest.raises(ProbeError, match="neither bash nor nc on this host, cannot reach redis at 127.0.0.1:1"):
        await read_counters(PathRunner(env), cfg, timeout=10, state={})


@pytest.mark.integration
async def test_redis_down_is_a_probe_error():
    need("redis-cli")
    cfg = CacheConfig(name="s", kind="redis", address=f"127.0.0.1:{free_port()}")
    with pytest.raises(ProbeError, match="Connection refused"):
        await read_counters(LocalRunner(), cfg, timeout=10, state={})


# --- memcached -----------------------------------------------------------------------------


@pytest.mark.integration
async def test_memcached_exact_hit_rate(memcached):
    port = memcached
    assert memcached_talk(port, b"set k 0 0 1\r\nv\r\n").startswith(b"STORED")
    memcached_talk(port, b"get k\r\n" * 6 + b"get nope\r\n" * 2)
    cfg = CacheConfig(name="frags", kind="memcached", address=f"127.0.0.1:{port}")
    c = await read_counters(LocalRunner(), cfg, timeout=10, state={})
    assert (c.hits, c.misses, c.ops) == (6, 2, 9)  # 8 gets + 1 set
    assert c.uptime_s is not None
    tracker = HitRateTracker()
    tracker.add(time.time(), c)
    assert tracker.stats("frags", "memcached", time.time()).hit_rate == pytest.approx(0.75)


@pytest.mark.integration
async def test_memcached_down_is_a_probe_error():
    cfg = CacheConfig(name="frags", kind="memcached", address=f"127.0.0.1:{free_port()}")
    with pytest.raises(ProbeError, match="memcached frags: exit 7: .*[Cc]onnection refused"):
        await read_counters(LocalRunner(), cfg, timeout=10, state={})


# --- nginx log ---------------------------------------------------------------------------

LINE = '127.0.0.1 - - [22/Nov/2026:06:52:18 +0000] "GET /{path} HTTP/1.1" 200 21 "-" "curl/7.88.1" rt=0.000 uct=- urt=- ucs={status}\n'


def lines(*statuses: str, path: str = "x") -> str:
    return "".join(LINE.format(path=path, status=s) for s in statuses)


async def poll_log(cfg: CacheConfig, state: dict) -> CacheCounters:
    return await read_counters(LocalRunner(), cfg, timeout=10, state=state)


async def test_nginx_log_reads_only_new_complete_lines(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(lines("HIT", "MISS", "-"))
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    state: dict = {}
    assert await poll_log(cfg, state) == CacheCounters(hits=1, misses=1, ops=3)
    assert state["offset"] == log.stat().st_size and state["inode"] == log.stat().st_ino

    assert await poll_log(cfg, state) == CacheCounters(hits=1, misses=1, ops=3)  # nothing new

    full = lines("HIT", "HIT")
    with log.open("a") as f:
        f.write(full + full[:40])  # nginx is mid-line: the fragment waits
    assert await poll_log(cfg, state) == CacheCounters(hits=3, misses=1, ops=5)
    with log.open("a") as f:
        f.write(full[40 : len(full) // 2])
    assert await poll_log(cfg, state) == CacheCounters(hits=4, misses=1, ops=6)


async def test_nginx_log_non_ascii_bytes_keep_offsets_exact(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(lines("HIT", path="caf\xe9-\u00fc").encode("utf-8") + b'1.2.3.4 "\xff\xfe" ucs=MISS\n')
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    state: dict = {}
    assert await poll_log(cfg, state) == CacheCounters(hits=1, misses=1, ops=2)
    assert state["offset"] == log.stat().st_size
    with log.open("ab") as f:
        f.write(lines("STALE").encode())
    assert await poll_log(cfg, state) == CacheCounters(hits=2, misses=1, ops=3)


async def test_nginx_log_rotation_reads_the_rest_of_the_old_file(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(lines("HIT"))
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    state: dict = {}
    await poll_log(cfg, state)
    with log.open("a") as f:
        f.write(lines("MISS"))  # written after our poll, before the rotation
    log.rename(tmp_path / "access.log.1")
    log.write_text(lines("HIT", "EXPIRED"))  # nginx reopened its log
    assert await poll_log(cfg, state) == CacheCounters(hits=2, misses=2, ops=4)
    assert state["inode"] == log.stat().st_ino and state["offset"] == log.stat().st_size


async def test_nginx_log_rotation_without_old_file(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(lines("HIT", "HIT"))
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    state: dict = {}
    await poll_log(cfg, state)
    log.unlink()
    log.write_text(lines("MISS"))  # compressed away or deleted: start the new file at 0
    assert await poll_log(cfg, state) == CacheCounters(hits=2, misses=1, ops=3)


async def test_nginx_log_truncation_copytruncate(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(lines("HIT", "HIT", "HIT"))
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    state: dict = {}
    await poll_log(cfg, state)
    with log.open("r+") as f:
        f.truncate(0)
        f.write(lines("MISS"))
    assert await poll_log(cfg, state) == CacheCounters(hits=3, misses=1, ops=4)


async def test_nginx_log_backlog_over_the_cap_keeps_the_newest(tmp_path, monkeypatch):
    log = tmp_path / "access.log"
    log.write_text(lines(*["MISS"] * 50))
    one = len(lines("HIT"))
    monkeypatch.setattr(caches, "NGINX_READ_CAP", one * 3 + 10)  # 3 lines and a fragment
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    state: dict = {}
    assert await poll_log(cfg, state) == CacheCounters(hits=0, misses=3, ops=3)
    with log.open("a") as f:
        f.write(lines(*["HIT"] * 20))
    # Only the newest ~3 lines are read; the fragment before them is dropped.
    assert await poll_log(cfg, state) == CacheCounters(hits=3, misses=3, ops=6)
    assert state["offset"] == log.stat().st_size


async def test_nginx_log_garbage_is_reported_once_then_reading_moves_on(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(lines("HIT"))
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    state: dict = {}
    await poll_log(cfg, state)
    with log.open("a") as f:
        f.write("this is not an access log line\n")
    with pytest.raises(ParseError, match="this is not an access log line"):
        await poll_log(cfg, state)
    with log.open("a") as f:
        f.write(lines("MISS"))
    assert await poll_log(cfg, state) == CacheCounters(hits=1, misses=1, ops=2)


async def test_nginx_log_missing_file(tmp_path):
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(tmp_path / "nope.log"))
    with pytest.raises(ProbeError, match="nope.log"):
        await poll_log(cfg, {})


async def test_nginx_log_path_with_shell_characters(tmp_path):
    d = tmp_path / "we'ird $(dir)"
    d.mkdir()
    log = d / "a b.log"
    log.write_text(lines("REVALIDATED"))
    cfg = CacheConfig(name="edge", kind="nginx-log", path=str(log))
    assert await poll_log(cfg, {}) == CacheCounters(hits=1, misses=0, ops=1)


async def test_hung_cache_times_out_on_the_host_first(silent_listener):
    # The remote `timeout` stops the exchange before our own deadline, so
    # nothing lingers on the host; it is reported as a timeout.
    cfg = CacheConfig(name="frags", kind="memcached", address=f"127.0.0.1:{silent_listener}")
    started = time.monotonic()
    with pytest.raises(ProbeError, match="timed out") as exc:
        await read_counters(LocalRunner(), cfg, timeout=2.5, state={})
    assert exc.value.state == "timeout"
    assert time.monotonic() - started < 2.5
