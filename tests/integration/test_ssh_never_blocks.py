"""A resolver that takes 20 s costs that host its timeout, never the event loop.

The resolver is made slow in-process: ``socket.getaddrinfo`` (and
``gethostbyname``, which the old code called on the loop) sleep up to 20 s for
one name, in whichever thread calls them. If any call ran on the loop, the
collector's own loop-lag monitor would see seconds, and the other host would
miss its polls.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest

from opsdash.collect import resolve
from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from tests.support.sshd import Sshd

pytestmark = pytest.mark.integration

SLOW = "slow-dns.test"


class _Calls(list):
    """The thread ids that asked for the slow name; ``threads``: their names."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []


@pytest.fixture
def slow_resolver(monkeypatch: pytest.MonkeyPatch):
    """Lookups of SLOW block their calling thread for 20 s (released at teardown); others pass."""
    release = threading.Event()
    callers = _Calls()
    real_getaddrinfo, real_byname, real_byname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex

    def stall(host: object) -> None:
        if host == SLOW:
            callers.append(threading.get_ident())
            callers.threads.append(threading.current_thread().name)
            release.wait(20)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def getaddrinfo(host, *a, **k):  # type: ignore[no-untyped-def]
        stall(host)
        return real_getaddrinfo(host, *a, **k)

    def gethostbyname(host):  # type: ignore[no-untyped-def]
        stall(host)
        return real_byname(host)

    def gethostbyname_ex(host):  # type: ignore[no-untyped-def]
        stall(host)
        return real_byname_ex(host)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "gethostbyname", gethostbyname)
    monkeypatch.setattr(socket, "gethostbyname_ex", gethostbyname_ex)
    yield callers
    release.set()


async def test_a_20s_resolver_leaves_the_loop_and_the_other_hosts_alone(
    sshd: Sshd, tmp_path: Path, slow_resolver: _Calls
) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(f"Host slow-alias\n  HostName {SLOW}\n  Port {sshd.port}\n")
    kh = tmp_path / "kh"
    text = (
        '[defaults]\ninterval = "1s"\ntimeout = "2s"\n'
        + sshd.host_toml("fast")
        # accept-new with a host name: the path that called gethostbyname on the loop
        + sshd.host_toml("slow", host_key_policy="accept-new", known_hosts=str(kh)).replace(
            'address = "127.0.0.1"', f'address = "{SLOW}"'
        )
        + f'[[hosts]]\nname = "slow-alias"\nknown_hosts = "{kh}"\nssh_config = "{ssh_config}"\n'
        'host_key_policy = "accept-new"\n'
    )
    c = Collector(parse_config(text))
    t0 = time.monotonic()
    stats = await c.run(duration=6.0)
    wall = time.monotonic() - t0
    loop_thread = threading.get_ident()
    assert slow_resolver and loop_thread not in slow_resolver  # the slow lookups ran, never on the loop
    # ... and never in the loop's default executor, which the store writes need
    assert all(t.startswith("resolve ") for t in slow_resolver.threads), set(slow_resolver.threads)
    assert stats["loop_lag_ms"]["max"] < 100, stats["loop_lag_ms"]
    fast = [j for j in c.jobs if j.target == "fast"]
    assert sum(j.polls for j in fast) >= 5 and sum(j.polls_late for j in fast) == 0
    assert c.hosts["fast"].state == "ok"
    for name in ("slow", "slow-alias"):
        assert c.hosts[name].state == "unreachable", c.hosts[name].error
        assert c.hosts[name].error == f"cannot resolve {SLOW}: no answer within 2s"
    assert wall < 6.0 + 2.0, f"stopping waited for the resolver: {wall:.1f}s"
    assert not kh.exists()


async def test_lookups_past_the_thread_bound_wait_their_turn_within_their_deadline(slow_resolver: _Calls) -> None:
    n = resolve.MAX_LOOKUPS + 8
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(resolve.getaddrinfo(SLOW, 22, 1.0) for _ in range(n)), return_exceptions=True)
    tick.cancel()
    took = loop.time() - t0
    assert all(isinstance(r, resolve.ResolveError) and "no answer within 1s" in str(r) for r in results)
    assert took < 1.5
    assert len(slow_resolver) == resolve.MAX_LOOKUPS  # at most this many threads are ever held
    assert ticks > 50  # the loop kept running meanwhile
    # A literal address never waits for a thread or a slot.
    assert (await resolve.getaddrinfo("127.0.0.1", 22, 1.0))[0][4] == ("127.0.0.1", 22)


async def test_an_endpoint_whose_name_never_resolves_fails_in_its_timeout_off_the_default_executor(
    slow_resolver: _Calls,
) -> None:
    from opsdash.collect.http import HTTPProbe

    cfg = parse_config(f'[[endpoints]]\nname = "slow"\nurl = "http://{SLOW}:8080/"\ntimeout = "1s"\n')
    probe = HTTPProbe()
    t0 = time.monotonic()
    try:
        r = await probe.probe(cfg.endpoints[0])
    finally:
        await probe.close()
    assert time.monotonic() - t0 < 1.5
    assert not r.ok and r.state in ("timeout", "unreachable"), r
    assert slow_resolver.threads and all(t.startswith("resolve ") for t in slow_resolver.threads)
