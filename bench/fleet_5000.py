#!/usr/bin/env python3
"""One collector polling the demo fleet of N hosts (default 5000, health every 15 s).

What runs: the demo fleet process (``python -m opsdash.demo.fleet``, one asyncssh
listener for every host, as ``opsdash demo --hosts N`` starts it) and, in this
process, the collector exactly as ``opsdash demo --headless`` builds it
(Collector + alert engine + store, the demo's config.toml). The story starts at
0, so no host is down in the first 240 s: the fleet is healthy.

What is measured:
  - polls, failed, late: the collector's own counters, per job kind, and why
    each failed poll failed (the probe's error, counted by message);
  - collector CPU: this process's user+sys (all threads) over the whole run
    (connecting included) and from the moment every host is connected;
  - the fleet's CPU over the same spans (/proc/PID/stat), to show what the
    test rig costs the 2 cores it shares with the collector;
  - peak RSS of this process, loop lag (the collector's 0.1 s monitor);
  - how long the collector's and the fleet's threads were runnable but waiting
    for a CPU (/proc/PID/task/*/schedstat): the share of the loop lag that is
    the machine's other work, not the collector's.

    python bench/fleet_5000.py --hosts 5000 --duration 150

Writes a Markdown table to stdout (and --out FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import threading
import tracemalloc
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsdash.alerts.engine import engine_for  # noqa: E402
from opsdash.collect.collector import Collector  # noqa: E402
from opsdash.commands.demo import _raise_fd_limit, start_fleet, stop_fleet, wait_ready  # noqa: E402
from opsdash.config import load_config  # noqa: E402
from opsdash.demo.config import make_keys, write_config  # noqa: E402
from opsdash.store import Store  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_self() -> float:
    t = os.times()
    return t.user + t.system


def cpu_pid(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def waited(pid: int | str = "self") -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat,
    second field): time the machine's other work took from it."""
    total = 0
    for f in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(f.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _counted(fn: Any, why: collections.Counter, kind: str) -> Any:
    async def run() -> None:
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            # Host names and numbers vary; the cause is what is counted.
            why[(kind, re.sub(r"\d+(\.\d+)?", "N", f"{type(e).__name__}: {e}")[:140])] += 1
            raise
    return run


class Stalls:
    """What the event loop was doing when it stalled: a thread that, whenever the loop has not
    ticked for ``over`` seconds, samples the loop thread's stack (sys._current_frames) and
    counts it, innermost frames of opsdash first. Sampling from outside costs the loop
    nothing; it names the code behind the loop lag's maximum."""

    def __init__(self, over: float = 0.05, every: float = 0.01) -> None:
        self.over, self.every = over, every
        self.stacks: collections.Counter = collections.Counter()
        self.samples = 0
        self.starved: list[tuple[float, float]] = []  # (run second, seconds) the sampler itself could not run
        self._t0 = time.monotonic()
        self._tick = time.monotonic()
        self._ident = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    async def ticker(self) -> None:
        while True:
            self._tick = time.monotonic()
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1)

    def _watch(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.every):
            now = time.monotonic()
            if now - last > self.over:  # the GIL held in C code (or the process not scheduled): no stack to see
                self.starved.append((last - self._t0, now - last))
            last = now
            if now - self._tick < self.over:
                continue
            frame = sys._current_frames().get(self._ident)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)[::-1]
            ours = [f for f in stack if "/opsdash/" in f.filename or "/asyncssh/" in f.filename][:6]
            key = tuple(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in (ours or stack[:6]))
            self.stacks[key] += 1
            self.samples += 1

    def report(self, top: int = 8) -> list[str]:
        out = [f"Loop stalls over {self.over * 1000:.0f} ms: {self.samples} samples of {self.every * 1000:.0f} ms "
               f"({self.samples * self.every:.1f} s stalled), by stack (innermost first):", ""]
        for stack, n in self.stacks.most_common(top):
            out.append(f"- {n} x " + " <- ".join(stack))
        worst = sorted(self.starved, key=lambda x: -x[1])[:top]
        out += ["", f"The sampler itself could not run for over {self.over * 1000:.0f} ms {len(self.starved)} times "
                "(the GIL held in C code, or no CPU); the longest, at second of the run: "
                + ", ".join(f"{d * 1000:.0f} ms at {t:.1f} s" for t, d in sorted(worst))]
        return out


async def collect(col: Collector, duration: float, fleet_pid: int, hosts: int,
                  stalls: Stalls | None = None, gc_probe: bool = False) -> dict[str, Any]:
    why: collections.Counter = collections.Counter()
    build = col.build_jobs

    def counted_jobs(**kw: Any) -> list:
        jobs = build(**kw)
        for j in jobs:
            j.fn = _counted(j.fn, why, j.kind)
        return jobs

    col.build_jobs = counted_jobs  # type: ignore[method-assign]
    t0, c0, f0 = time.monotonic(), cpu_self(), cpu_pid(fleet_pid)
    w0, fw0 = waited(), waited(fleet_pid)
    marks: dict[str, Any] = {}
    peak_rss = 0.0

    async def watch() -> None:
        nonlocal peak_rss
        while True:
            await asyncio.sleep(1.0)
            peak_rss = max(peak_rss, rss_mb())
            up = sum(1 for h in col._ssh.values() if h._conn is not None and h._shell is not None)
            if "connected" not in marks and up >= hosts:
                marks["connected"] = (time.monotonic(), cpu_self(), cpu_pid(fleet_pid))
            if gc_probe and "connected" in marks and "gc" not in marks and time.monotonic() - marks["connected"][0] > 10:
                import gc
                t = time.perf_counter()
                n = gc.collect()
                marks["gc"] = (len(gc.get_objects()), gc.get_freeze_count(), time.perf_counter() - t, n)

    w = asyncio.create_task(watch())
    tick = asyncio.create_task(stalls.ticker()) if stalls is not None else None
    if stalls is not None:
        stalls.start()
    try:
        stats = await col.run(duration=duration)
    finally:
        w.cancel()
        if stalls is not None and tick is not None:
            stalls.stop()
            tick.cancel()
    t1, c1, f1 = time.monotonic(), cpu_self(), cpu_pid(fleet_pid)
    w1, fw1 = waited(), waited(fleet_pid)
    kinds: dict[str, list[int]] = {}
    for j in col.jobs:
        k = kinds.setdefault(j.kind, [0, 0, 0])
        k[0] += j.polls
        k[1] += j.polls_failed
        k[2] += j.polls_late
    out = {"stats": stats, "kinds": kinds, "lags": list(col.stats.lag_ms), "why": why, "wall": t1 - t0, "cpu": c1 - c0, "fleet_cpu": f1 - f0,
           "peak_rss": max(peak_rss, rss_mb()), "waited": w1 - w0, "fleet_waited": fw1 - fw0, "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    out["gc"] = marks.get("gc")
    if "connected" in marks:
        tc, cc, fc = marks["connected"]
        out.update(connected_after=tc - t0, steady_wall=t1 - tc, steady_cpu=c1 - cc, steady_fleet=f1 - fc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=5000)
    ap.add_argument("--duration", type=float, default=150.0, help="seconds of collection")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--memory", action="store_true",
                    help="trace allocations (tracemalloc, slow) and list where the memory live at the end was allocated")
    ap.add_argument("--connect-concurrency", type=int, default=0,
                    help="[opsdash] ssh_connect_concurrency for this run (default: the demo config's, the default 20)")
    ap.add_argument("--gc-probe", action="store_true",
                    help="10 s after every host connected, time one full collection (a deliberate stall) and count objects")
    ap.add_argument("--stalls", action="store_true",
                    help="sample the loop thread's stack whenever the loop stalls over 50 ms, and list them")
    args = ap.parse_args()
    _raise_fd_limit()
    d = Path(tempfile.mkdtemp(prefix="opsdash-fleet-bench-"))
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    fleet = None
    try:
        make_keys(d)
        fleet = start_fleet(d, args.hosts)
        ready = wait_ready(d, fleet, timeout=120)
        config = load_config(str(write_config(d, ready)))
        if args.connect_concurrency:
            config = dataclasses.replace(config, settings=dataclasses.replace(
                config.settings, ssh_connect_concurrency=args.connect_concurrency))
        store = Store(d / "opsdash.sqlite")
        col = Collector(config, store, alert_engine=engine_for(config, store))
        stalls = Stalls() if args.stalls else None
        if args.memory:
            tracemalloc.start(4)
        r = asyncio.run(collect(col, args.duration, fleet.pid, args.hosts, stalls, args.gc_probe))
        if args.memory:
            held = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            tracemalloc.stop()
        store.close()
    finally:
        if fleet is not None:
            stop_fleet(fleet)
        shutil.rmtree(d, ignore_errors=True)
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    s = r["stats"]
    polls, failed, late = s["polls"], s["polls_failed"], s["polls_late"]
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {' '.join(load0)} at start, {' '.join(load1)} at the end. "
        f"{args.hosts} demo hosts (health every 15 s; the 12 story hosts every 5 s, with patches, caches, backups "
        f"and 6 endpoints), {r['wall']:.0f} s of collection.",
        "",
        "| | value |",
        "|---|---:|",
        f"| polls (failed, late) | {polls} ({failed} = {100 * failed / max(1, polls):.2f}%, "
        f"{late} = {100 * late / max(1, polls):.2f}%) |",
    ]
    for kind, (p, f, lt) in sorted(r["kinds"].items()):
        lines.append(f"| {kind} polls (failed, late) | {p} ({f}, {lt}) |")
    lines += [
        f"| collector CPU, whole run (connecting included) | {r['cpu'] / r['wall']:.3f} core ({r['cpu']:.1f} s) |",
    ]
    if "connected_after" in r:
        lines += [
            f"| every host connected after | {r['connected_after']:.0f} s |",
            f"| collector CPU after that | {r['steady_cpu'] / r['steady_wall']:.3f} core |",
            f"| fleet CPU, whole run / after that | {r['fleet_cpu'] / r['wall']:.3f} / "
            f"{r['steady_fleet'] / r['steady_wall']:.3f} core |",
        ]
    else:
        lines.append(f"| fleet CPU, whole run | {r['fleet_cpu'] / r['wall']:.3f} core (not every host connected) |")
    lines.append(f"| waiting for a CPU while runnable, collector / fleet | {r['waited'] / r['wall']:.3f} / "
                 f"{r['fleet_waited'] / r['wall']:.3f} s per s |")
    lag = s["loop_lag_ms"]
    at, when = 0.0, []  # the monitor ticks every 0.1 s plus its lag: each lag's second of the run
    for v in r["lags"]:
        at += 0.1 + v / 1000
        when.append((v, at))
    lines += [
        f"| peak RSS | {r['ru_maxrss']:.0f} MB |",
        f"| loop lag p50 / p95 / max | {lag['p50']:.1f} / {lag['p95']:.1f} / {lag['max']:.1f} ms |",
        "| the five longest loop lags, at second of the run | "
        + ", ".join(f"{v:.0f} ms at {t:.0f} s" for v, t in sorted(sorted(when)[-5:], key=lambda x: x[1])) + " |",
        "",
    ]
    counted = collections.Counter()
    for (kind, _), n in r["why"].items():
        counted[kind] += n
    for kind, (_, f, _) in r["kinds"].items():
        if f > counted[kind]:
            r["why"][(kind, "the job's own deadline passed (timeout + 1 s)")] += f - counted[kind]
    if r["why"]:
        lines += ["| failed polls by kind and error | count |", "|---|---:|"]
        for (kind, msg), n in r["why"].most_common(12):
            lines.append(f"| {kind}: {msg.replace('|', '/')} | {n} |")
    if r.get("gc"):
        objs, frozen, took, freed = r["gc"]
        lines += ["", f"One full collection 10 s after every host connected: {took * 1000:.0f} ms over "
                  f"{objs:,} tracked objects ({frozen:,} more frozen), {freed} freed."]
    if stalls is not None:
        lines += ["", *stalls.report()]
    if args.memory:
        stats = held.statistics("lineno")
        total = sum(st.size for st in stats)
        lines += ["", f"Memory held at the end, traced: {total / 2**20:.0f} MB; the top allocation sites:", ""]
        for st in stats[:20]:
            f = st.traceback[0]
            lines.append(f"- {st.size / 2**20:.1f} MB in {st.count} blocks: {f.filename.split('site-packages/')[-1]}:{f.lineno}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
