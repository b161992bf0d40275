#!/usr/bin/env python3
"""Steady-state cost of one health poll of N hosts: opsdash's collector vs parallel-ssh.

Both poll the same loopback sshd (N host entries pointing at it) and read the
same things (/proc/loadavg, uptime, stat, meminfo, df -P). opsdash keeps one
SSH connection and one remote shell per host; parallel-ssh (Debian `pssh`)
starts an `ssh` client process per host per round, which is what a cron
job or a naive poller does.

What is measured:
  - opsdash: the real ``opsdash collect`` process (config parsing, SSH, the
    parsers, the alert engine, the store writer: everything), started with
    every host polled every --interval (2 s); its user+sys CPU (all threads,
    /proc/PID/stat) between the --marks (10 s and 40 s after start, so the
    connects are over), divided by the polls due in that window
    (hosts x window / interval). The collect log's poll and failure counts
    are shown beside it.
  - parallel-ssh: client CPU (user+sys) of the children (pssh and its ssh
    processes) per host over --rounds rounds after a warm-up, same run.

    python bench/poll_cost.py --hosts 50 200 500

Writes a Markdown table to stdout (and --out FILE).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.sshd import start_sshd  # noqa: E402

REMOTE = "cat /proc/loadavg /proc/uptime /proc/meminfo; head -n 3 /proc/stat; timeout 5 df -P -k -l"


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid: int) -> float:
    """User+sys CPU seconds of one process (all its threads), from /proc/PID/stat."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def bench_opsdash(sshd, n: int, tmp: Path, interval: float, mark0: float, mark1: float) -> dict:
    """The whole ``opsdash collect`` process: CPU between two marks of a steady run."""
    cfg = tmp / f"collect-{n}.toml"
    cfg.write_text(
        f"[opsdash]\nssh_connect_concurrency = 50\n[defaults]\ninterval = \"{interval:g}s\"\ntimeout = \"30s\"\n"
        + "".join(sshd.host_toml(f"h{i}") for i in range(n))
    )
    store = tmp / f"store-{n}.sqlite"
    err = tmp / f"collect-{n}.log"
    with err.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store)],
            stdout=subprocess.DEVNULL, stderr=log, cwd=Path(__file__).resolve().parent.parent,
        )
    try:
        t_start = time.monotonic()
        time.sleep(max(0.0, t_start + mark0 - time.monotonic()))
        c0, t0 = proc_cpu(proc.pid), time.monotonic()
        time.sleep(max(0.0, t_start + mark1 - time.monotonic()))
        c1, t1 = proc_cpu(proc.pid), time.monotonic()
        if proc.poll() is not None:
            raise SystemExit(f"opsdash collect exited {proc.returncode}: {err.read_text()[-800:]}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = err.read_text()
    m = re.search(r"stopped after (\d+)s: (\d+) polls, (\d+) failed", text)
    polls_total, failed = (int(m.group(2)), int(m.group(3))) if m else (0, -1)
    polls = n * (t1 - t0) / interval  # polls due in the window: every host every interval
    return {"cpu_per_poll": (c1 - c0) / polls, "core": (c1 - c0) / (t1 - t0),
            "polls_logged": polls_total, "failed": failed, "window": t1 - t0}


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
    ap.add_argument("--rounds", type=int, default=5, help="parallel-ssh rounds")
    ap.add_argument("--interval", type=float, default=2.0, help="opsdash health interval, seconds")
    ap.add_argument("--marks", type=float, nargs=2, default=[10.0, 40.0], metavar=("FROM", "TO"),
                    help="measure the collect process's CPU between these seconds after its start")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not shutil.which("parallel-ssh"):
        raise SystemExit("parallel-ssh is not installed: apt-get install pssh")
    tmp = Path(tempfile.mkdtemp(prefix="opsdash-bench-"))
    sshd = start_sshd(tmp / "sshd", max_sessions=10)
    rows = []
    try:
        for n in args.hosts:
            o = bench_opsdash(sshd, n, tmp, args.interval, *args.marks)
            p = bench_pssh(sshd, n, args.rounds, tmp)
            rows.append((n, o, p))
            print(f"{n} hosts: opsdash {o}, parallel-ssh {p}", file=sys.stderr)
    finally:
        sshd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; sshd on 127.0.0.1. opsdash: the whole `opsdash collect` "
        f"process's CPU between {args.marks[0]:g} s and {args.marks[1]:g} s after its start, hosts polled every "
        f"{args.interval:g} s; parallel-ssh: {args.rounds} rounds after a warm-up.",
        "",
        "| hosts | opsdash collect CPU/host poll | collect process, cores | polls logged (failed) "
        "| parallel-ssh CPU/host poll | CPU ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, o, p in rows:
        ratio = p["cpu_per_poll"] / o["cpu_per_poll"] if o["cpu_per_poll"] > 0 else float("inf")
        lines.append(
            f"| {n} | {o['cpu_per_poll'] * 1000:.2f} ms | {o['core']:.3f} | {o['polls_logged']} ({o['failed']}) | "
            f"{p['cpu_per_poll'] * 1000:.2f} ms | {ratio:.0f}x |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
