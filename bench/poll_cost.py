#!/usr/bin/env python3
"""Steady-state cost of one health poll of N hosts: opsdash's collector vs parallel-ssh.

Both poll the same loopback sshd (N host entries pointing at it) and read the
same things (/proc/loadavg, uptime, stat, meminfo, df -P). opsdash keeps one
SSH connection and one remote shell per host; parallel-ssh (Debian `pssh`)
starts an `ssh` client process per host per round, which is what a cron
job or a naive poller does.

Measured per round, after a warm-up round (opsdash connects then):
  - wall time of the round,
  - client CPU (user+sys) of the poller: this process for opsdash,
    the children (pssh and its ssh processes) for parallel-ssh.

    python bench/poll_cost.py --hosts 50 200 500 --rounds 5

Writes a Markdown table to stdout (and --out FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsdash.collect.collector import Collector  # noqa: E402
from opsdash.config import parse_config  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402

REMOTE = "cat /proc/loadavg /proc/uptime /proc/meminfo; head -n 3 /proc/stat; timeout 5 df -P -k -l"


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


async def bench_opsdash(sshd, n: int, rounds: int) -> dict:
    cfg_text = "[opsdash]\nssh_connect_concurrency = 50\n[defaults]\ntimeout = \"30s\"\n" + "".join(
        sshd.host_toml(f"h{i}") for i in range(n)
    )
    c = Collector(parse_config(cfg_text))
    await c._open()
    names = list(c.hosts)
    try:
        await asyncio.gather(*(c.poll_health(h) for h in names))  # warm-up: connects + opens shells
        failed = [h for h in names if c.hosts[h].state != "ok"]
        if failed:
            raise SystemExit(f"opsdash: {len(failed)} hosts not ok, e.g. {c.hosts[failed[0]].error}")
        walls, cpus = [], []
        for _ in range(rounds):
            c._pending.clear()
            c._pending_latest.clear()
            t0, c0 = time.perf_counter(), cpu_self()
            await asyncio.gather(*(c.poll_health(h) for h in names))
            walls.append(time.perf_counter() - t0)
            cpus.append(cpu_self() - c0)
    finally:
        await c.close()
    return {"wall": sorted(walls)[len(walls) // 2], "cpu_per_poll": sum(cpus) / (rounds * n)}


def bench_pssh(sshd, n: int, rounds: int, tmp: Path) -> dict:
    hosts = tmp / f"hosts-{n}"
    hosts.write_text("".join(f"{sshd.user}@127.0.0.1:{sshd.port}\n" for _ in range(n)))
    cmd = [
        "parallel-ssh", "-h", str(hosts), "-p", str(n), "-t", "30", "-o", str(tmp / "out"),
        "-x", f"-i {sshd.client_key} -o UserKnownHostsFile={sshd.known_hosts} -o StrictHostKeyChecking=yes "
              "-o BatchMode=yes -o LogLevel=ERROR",
        REMOTE,
    ]
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up
    walls, cpus = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), cpu_children()
        r = subprocess.run(cmd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_children() - c0)
        if r.returncode != 0:
            raise SystemExit(f"parallel-ssh failed: {r.stdout[-500:]} {r.stderr[-500:]}")
    return {"wall": sorted(walls)[len(walls) // 2], "cpu_per_poll": sum(cpus) / (rounds * n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, nargs="+", default=[50, 200, 500])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not shutil.which("parallel-ssh"):
        raise SystemExit("parallel-ssh is not installed: apt-get install pssh")
    tmp = Path(tempfile.mkdtemp(prefix="opsdash-bench-"))
    sshd = start_sshd(tmp / "sshd", max_sessions=10)
    rows = []
    try:
        for n in args.hosts:
            o = asyncio.run(bench_opsdash(sshd, n, args.rounds))
            p = bench_pssh(sshd, n, args.rounds, tmp)
            rows.append((n, o, p))
            print(f"{n} hosts: opsdash {o}, parallel-ssh {p}", file=sys.stderr)
    finally:
        sshd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; sshd on 127.0.0.1; median of {args.rounds} rounds after a warm-up.",
        "",
        "| hosts | opsdash wall/round | parallel-ssh wall/round | opsdash CPU/host poll | parallel-ssh CPU/host poll | CPU ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, o, p in rows:
        ratio = p["cpu_per_poll"] / o["cpu_per_poll"] if o["cpu_per_poll"] > 0 else float("inf")
        lines.append(
            f"| {n} | {o['wall'] * 1000:.0f} ms | {p['wall'] * 1000:.0f} ms | {o['cpu_per_poll'] * 1000:.2f} ms | "
            f"{p['cpu_per_poll'] * 1000:.2f} ms | {ratio:.0f}x |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
