#!/usr/bin/env python3
"""Memory: the collector with 1000 hosts and 300 endpoints after an hour of simulated history.

    python bench/memory_bench.py [--hosts 1000] [--endpoints 300] [--minutes 60]

Builds a ``Collector`` (with the alert engine and a SQLite store, as
``opsdash collect`` does) from a config of N hosts (the demo fleet's hosts:
``opsdash.demo.story.fleet``) and M endpoints, then feeds it an hour of
simulated time without waiting an hour: a fake clock steps 5 s at a time and
every target that is due gets a reading through the collector's own code
paths, the ones its probes end in:

  - hosts (health every 15 s): the demo fleet's rendered health output
    (``opsdash.demo.render.health``) -> ``parse_health_output`` -> host state and
    samples (``poll_health``'s success path, the SSH read replaced);
  - caches on the hosts that have one (every 15 s): story counters ->
    ``HitRateTracker`` -> a ``CacheRow`` kept on the host (the caches kind's ``poll``,
    kinds/caches.py, with the remote read replaced);
  - endpoints (every 5 s, ``window = "1h"`` so the whole hour stays in their
    ``EndpointWindow``s: the worst case): ``Collector.record_http`` with a result
    whose TTFB follows a noisy curve, 2 % failures;
  - every sample goes through ``_emit`` -> the alert engine (``observe``), the
    writer's ``flush`` (to the store, in a thread) and ``engine.tick``, as in
    ``Collector._writer``.

No SSH connections are open (that memory belongs to asyncssh, and is measured
live by bench/tui_bench.py, which reports the real 1000-host collector's RSS).
Reports VmRSS/VmHWM of this process before and after. Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def mem_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024
    return out


def config_text(hosts, n_endpoints: int) -> str:
    out = ['[opsdash]\nretention = "2d"\n', '[defaults]\ninterval = "15s"\ntimeout = "5s"\n']
    for h in hosts:
        out.append(f'[[hosts]]\nname = "{h.name}"\naddress = "127.0.0.1"\nport = 22\nuser = "{h.name}"\n'
                   f'probes = ["health"]\ntags = {{ role = "{h.role}", region = "{h.region}" }}\n')
        for c in h.caches:
            out.append(f'[[hosts.caches]]\nname = "{c.name}"\nkind = "{c.kind}"\naddress = "{c.address}"\n')
    for i in range(n_endpoints):
        out.append(f'[[endpoints]]\nname = "ep-{i:03d}"\nurl = "http://127.0.0.1:9/ep-{i:03d}"\n'
                   f'interval = "5s"\nwindow = "1h"\ntags = {{ region = "eu-west" }}\n')
    return "".join(out)


async def simulate(minutes: float, hosts_n: int, endpoints_n: int, store_path: Path) -> dict:
    from opsdash.alerts.engine import engine_for
    from opsdash.collect.health import parse_health_output
    from opsdash.kinds.cache_rate import HitRateTracker
    from opsdash.collect.collector import Collector
    from opsdash.config import parse_config
    from opsdash.demo import render, story
    from opsdash.model import HOST_OK, CacheCounters, CacheRow, HTTPResult, Phases, Sample
    from opsdash.store import Store

    m0 = mem_mb()
    fleet = story.fleet(hosts_n)
    config = parse_config(config_text(fleet, endpoints_n))
    store = Store(store_path)
    now = [1_795_860_000.0]
    clock = lambda: now[0]  # noqa: E731
    c = Collector(config, store, clock=clock, alert_engine=engine_for(config, store))
    m_built = mem_mb()
    rng = random.Random(1)
    t0 = now[0]
    steps = int(minutes * 60 / 5)
    n_samples = 0
    by_name = {h.name: h for h in fleet}
    trackers: dict[tuple[str, str], HitRateTracker] = {}  # the caches kind's job memory, one per cache
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for step in range(steps):
        t = now[0] = t0 + step * 5.0
        st = step * 5.0  # story time
        if step % 3 == 0:  # hosts and caches every 15 s
            for name, hs in c.hosts.items():
                h = by_name[name]
                reading = parse_health_output(render.health(h, st), hs.cpu, 0)
                hs.state, hs.t, hs.cpu, hs.health, hs.raw = HOST_OK, t, reading.cpu, reading.health, None
                hs.error = reading.df_error
                samples = reading.health.samples(t, name)
                n_samples += len(samples)
                c._emit(samples, [("host", name, "", t, c._host_row(hs), None)])
                for cache in hs.cfg.caches:
                    key = (name, cache.name)
                    tracker = trackers.get(key)
                    if tracker is None:
                        tracker = trackers[key] = HitRateTracker(window_s=max(300.0, hs.cfg.interval * 20))
                    sc = next(x for x in h.caches if x.name == cache.name)
                    hits, misses, lookups, up = story.cache_counters(h, sc, st)
                    tracker.add(t, CacheCounters(hits, misses, lookups, up))
                    cs = tracker.stats(cache.name, cache.kind, t)
                    row = hs.rows[("cache", cache.name)] = CacheRow(cache.name, cache.kind, t, 15.0, cs)
                    labels = {"cache": cache.name}
                    samples = []
                    if cs.hit_rate is not None and cs.window_s is not None:
                        samples.append(Sample(t, name, "cache.hit_rate", cs.hit_rate, labels))
                    if cs.ops_per_s is not None:
                        samples.append(Sample(t, name, "cache.ops_per_s", cs.ops_per_s, labels))
                    n_samples += len(samples)
                    c._emit(samples, [("cache", name, cache.name, t, row.to_json(), None)])
        for i, ep in enumerate(config.endpoints):
            base = 80 + 40 * i % 300
            ttfb = base * (1 + 0.3 * math.sin(st / 600 + i)) * rng.lognormvariate(0, 0.2)
            ok = rng.random() > 0.02
            ph = Phases(0.01, 0.2, 0.0, round(ttfb, 3), round(ttfb + 2, 3)) if ok else Phases(0.01, None, None, None, None)
            r = HTTPResult(ep.name, ep.url, "local", t, ok, 200 if ok else None, ph,
                           "HIT" if rng.random() < 0.8 else "MISS", None if ok else "timeout",
                           "ok" if ok else "timeout")
            before = len(c._pending)
            c.record_http(ep, r)
            n_samples += len(c._pending) - before
        await c.flush()
        c.engine.tick(t)
        if step % 120 == 0:
            print(f"# {step * 5 / 60:.0f} min simulated, {n_samples:,} samples, RSS {mem_mb()['VmRSS']:.0f} MB",
                  file=sys.stderr)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    gc.collect()
    m_end = mem_mb()
    windows = sum(len(w.ttfb) + len(w.outcomes) for w in c.endpoints.values())
    readings = sum(len(tr) for tr in trackers.values())
    store.close()
    return {"m0": m0, "built": m_built, "end": m_end, "samples": n_samples, "windows": windows,
            "trackers": readings, "caches": len(trackers), "wall": wall, "cpu": cpu,
            "db_mb": store_path.stat().st_size / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=300)
    ap.add_argument("--minutes", type=float, default=60.0, help="simulated minutes")
    args = ap.parse_args()
    load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with tempfile.TemporaryDirectory(prefix="opsdash-mem-") as tmp:
        r = asyncio.run(simulate(args.minutes, args.hosts, args.endpoints, Path(tmp) / "store.sqlite"))
    load1 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    grown = r["end"]["VmRSS"] - r["built"]["VmRSS"]
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {load0} at start, {load1} at the end.",
        "",
        f"{args.hosts} hosts (health every 15 s; {r['caches']} caches), {args.endpoints} endpoints (every 5 s, "
        f"1 h window), {args.minutes:g} simulated minutes fed in {r['wall']:.0f} s wall ({r['cpu']:.0f} s CPU): "
        f"{r['samples']:,} samples through the alert engine and into the store ({r['db_mb']:.0f} MB on disk); "
        f"at the end {r['windows']:,} values in the endpoint windows, {r['trackers']:,} points in the cache trackers.",
        "",
        "| when | RSS | peak RSS |",
        "|---|---:|---:|",
        f"| Python + imports | {r['m0']['VmRSS']:.0f} MB | {r['m0']['VmHWM']:.0f} MB |",
        f"| collector built (config parsed, {args.hosts + args.endpoints} targets) | {r['built']['VmRSS']:.0f} MB | "
        f"{r['built']['VmHWM']:.0f} MB |",
        f"| after {args.minutes:g} simulated minutes | **{r['end']['VmRSS']:.0f} MB** | {r['end']['VmHWM']:.0f} MB |",
        "",
        f"The hour of history adds {grown:.0f} MB ({grown * 1024 / (args.hosts + args.endpoints):.0f} KB per target). "
        "No peer measured (no other tool keeps this state); no target in the issues beyond \"memory bounded per series\" "
        "(issue 2): every window is bounded by age and count.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
