"""A resolver that answers late delays only its own probe: beside it, a fast probe finishes
on time and the event loop stays responsive (lag under 50 ms), whether the slow answer
comes within the timeout or not at all."""

from __future__ import annotations

import asyncio
import time

import pytest

from opsdash.config import parse_config
from opsdash.kinds.dns import KIND
from tests.support.dns_server import Answer, DNSServer, ProbeCtx


class LoopLag:
    """How late a 10 ms sleep wakes up, at worst, while it runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - start - 0.01)

    async def __aenter__(self) -> "LoopLag":
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def checks(server: DNSServer, slow_timeout: str):
    return {c.name: c for c in parse_config(
        f'[[dns]]\nname = "slow"\nquery = "slow.test"\nserver = "{server.address}"\ntimeout = "{slow_timeout}"\n'
        f'[[dns]]\nname = "fast"\nquery = "fast.test"\nserver = "{server.address}"\ntimeout = "5s"\n'
        'expect = ["203.0.113.10"]\n').checks["dns"]}


@pytest.mark.parametrize("slow_timeout,slow_state", [("5s", "ok"), ("1s", "timeout")])
async def test_a_slow_answer_never_delays_a_fast_probe_or_the_loop(slow_timeout: str, slow_state: str) -> None:
    zone = {"slow.test": Answer("A", ["203.0.113.10"], delay=2.0), "fast.test": Answer("A", ["203.0.113.10"])}
    with DNSServer(zone) as server:
        c = checks(server, slow_timeout)
        ctx = ProbeCtx()
        async with LoopLag() as lag:
            started = time.monotonic()
            slow = asyncio.create_task(ctx.probe(KIND, c["slow"]))
            await asyncio.sleep(0.05)  # the slow query is out and waiting
            fast_times = []
            for _ in range(5):  # five fast probes, one after the other, while the slow one waits
                t0 = time.monotonic()
                row = await ctx.probe(KIND, c["fast"])
                fast_times.append(time.monotonic() - t0)
                assert row.state == "ok"
            assert not slow.done()  # they all finished while the slow one was still waiting
            slow_row = await slow
            slow_took = time.monotonic() - started
    assert max(fast_times) < 0.25, fast_times
    assert lag.worst < 0.05, f"loop lag {lag.worst * 1000:.1f} ms"
    assert slow_row.state == slow_state
    if slow_state == "ok":
        assert 1.9 < slow_row.resolve_ms / 1000 < 3.0 and slow_took >= 1.9
    else:
        assert 0.9 < slow_took < 1.6 and slow_row.reason == f"no answer within 1s from {server.address}"
