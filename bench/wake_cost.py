#!/usr/bin/env python3
"""What one health request costs this process when it wakes the process alone, and
when it shares a wake-up with others.

N hosts (host entries pointing at one loopback sshd, as bench/poll_cost.py), one
long-lived shell each (``SSHHost.shell_request``, the collector's health poll).
Each round sends one request per host:
  - together: all N at once, as hosts due at one point of the collector's wake grid;
  - spread: one every --gap seconds, each waking the process on its own, as the
    collector did before the grid (one timer per job).
CPU is this process's user+sys over the rounds; the same time spent idle
(sleeping as the rounds do) is measured too and taken off the together figure.

    python bench/wake_cost.py --hosts 20 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsdash.collect.health import health_script  # noqa: E402
from opsdash.collect.ssh import SSHHost  # noqa: E402
from opsdash.config import parse_config  # noqa: E402
from tests.support.sshd import start_sshd  # noqa: E402


def cpu() -> float:
    t = os.times()
    return t.user + t.system


async def bench(hosts: list[SSHHost], rounds: int, gap: float) -> dict[str, float]:
    script = health_script()
    await asyncio.gather(*(h.shell_request(script, 10) for h in hosts))  # connected, shells open
    n = len(hosts) * rounds
    c0 = cpu()
    for _ in range(rounds):
        await asyncio.gather(*(h.shell_request(script, 10) for h in hosts))
        await asyncio.sleep(0.05)
    together = cpu() - c0
    c0 = cpu()
    for _ in range(rounds):
        await asyncio.sleep(0.05)
    idle = cpu() - c0

    async def later(h: SSHHost, delay: float) -> None:
        await asyncio.sleep(delay)
        await h.shell_request(script, 10)

    c0 = cpu()
    for _ in range(rounds):
        await asyncio.gather(*(later(h, k * gap) for k, h in enumerate(hosts)))
    spread = cpu() - c0
    for h in hosts:
        await h.close()
    return {"together_us": (together - idle) / n * 1e6, "spread_us": spread / n * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--gap", type=float, default=0.04, help="seconds between two spread requests")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsdash-wake-"))
    sshd = start_sshd(tmp / "sshd", max_sessions=10)
    try:
        cfg = parse_config("".join(sshd.host_toml(f"h{i}") for i in range(args.hosts)))
        r = asyncio.run(bench([SSHHost(h) for h in cfg.hosts], args.rounds, args.gap))
    finally:
        sshd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"{args.hosts} hosts x {args.rounds} rounds, load average {load}: "
          f"together {r['together_us']:.0f} us CPU per request, spread ({args.gap * 1000:g} ms apart) "
          f"{r['spread_us']:.0f} us ({r['spread_us'] / r['together_us']:.1f}x)")


if __name__ == "__main__":
    main()
