"""Tune benchmark: a week of 1,000 series at 15 s resolution (~40M samples) through `opsdash tune`.

    python bench/tune_bench.py [--series 1000] [--days 7] [--step 15] [--store FILE]

Builds the week in memory (150 hosts x cpu/mem/load/disk/up + 250 endpoints'
TTFB p95): noise around a per-series base, spikes, slow creep, flapping
bursts, host outages and a few real incidents. Measures ``tune()`` over the
built-in rules on those arrays (the backtest of the current settings plus
the grid search). With ``--store FILE`` it also writes the samples to a
SQLite store (once; the file is reused when it exists) and measures loading
them back with ``load_store`` (what `opsdash tune --since 7d` does first).

The target from issue 6: under a minute on the 2-core CI machine.
Prints one result line per measurement, ready for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
from array import array
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opsdash.alerts.rules import builtin_rules  # noqa: E402
from opsdash.tune import SeriesData, load_store, tune  # noqa: E402

T0 = 1_795_860_000.0
HOST_METRICS = [
    ("host.up", None, 1.0, 0.0),
    ("host.cpu_percent", None, 40.0, 6.0),
    ("host.mem_percent", None, 62.0, 2.0),
    ("host.load1_per_cpu", None, 0.7, 0.15),
    ("host.disk_percent", {"mount": "/"}, 70.0, 0.3),
]
# where noise pages: (level a spike / flap reaches, a level just under the threshold)
HOT = {
    "host.cpu_percent": (93.0, 84.0), "host.mem_percent": (92.0, 86.0), "host.load1_per_cpu": (2.4, 1.6),
    "host.disk_percent": (87.0, 82.0), "endpoint.ttfb_p95_ms": (460.0, 320.0),
}


def build(n_series: int, days: float, step: float, seed: int = 1) -> list[SeriesData]:
    rng = random.Random(seed)
    n = int(days * 86400 / step)
    pool = [rng.gauss(0.0, 1.0) for _ in range(1 << 16)]
    plen = len(pool)
    ts = array("d", [T0 + i * step for i in range(n)])
    out = []
    n_ep = n_series // 4
    n_hosts = (n_series - n_ep) // len(HOST_METRICS)
    specs = [(f"web-{h:03d}", m, lab, base, sd) for h in range(n_hosts) for m, lab, base, sd in HOST_METRICS]
    specs += [(f"ep-{e:03d}", "endpoint.ttfb_p95_ms", {"vantage": "local"}, 250.0, 25.0)
              for e in range(n_series - len(specs))]
    per_min = int(60 / step)
    for k, (target, metric, labels, base, sd) in enumerate(specs):
        off = rng.randrange(plen)
        if metric == "host.up":
            vs = [1.0] * n
            if rng.random() < 0.05:  # an outage of 3-20 minutes
                s = rng.randrange(n - 100 * per_min)
                vs[s:s + rng.randint(3, 20) * per_min] = [0.0] * (rng.randint(3, 20) * per_min)
                del vs[n:]
            out.append(SeriesData(target, metric, dict(labels or {}), ts, array("d", vs)))
            continue
        vs = [base + sd * pool[(off + i) % plen] for i in range(n)]
        hot, near = HOT[metric]
        kind = rng.random()
        if kind < 0.30:  # spikes: a few minutes past the threshold, a few times a day
            for _ in range(int(days * rng.randint(2, 6))):
                s = rng.randrange(n - 10 * per_min)
                ln = rng.randint(1, 6) * per_min
                vs[s:s + ln] = [hot + abs(sd) * 0.3 * pool[(off + s + j) % plen] for j in range(ln)]
        elif kind < 0.40:  # slow creep up to just under the threshold, hovering
            for i in range(n):
                vs[i] = min(near, base + (near - base) * 1.3 * i / n) + abs(sd) * 0.4 * pool[(off + i) % plen]
        elif kind < 0.48:  # flapping bursts: an hour a day across the threshold every few polls
            for d in range(int(days)):
                s = int((d + rng.random() * 0.9) * 86400 / step)
                for i in range(s, min(n, s + 60 * per_min)):
                    vs[i] = hot if (i // 3) % 2 else near
        if rng.random() < 0.01:  # a real incident: 20-60 minutes well past the threshold
            s = rng.randrange(n - 70 * per_min)
            ln = rng.randint(20, 60) * per_min
            vs[s:s + ln] = [hot * 1.08] * ln
        out.append(SeriesData(target, metric, dict(labels or {}), ts, array("d", vs)))
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--step", type=float, default=15.0)
    ap.add_argument("--store", metavar="FILE", help="also measure loading the week from a SQLite store")
    args = ap.parse_args()
    t = time.perf_counter()
    series = build(args.series, args.days, args.step)
    n = sum(len(s.ts) for s in series)
    print(f"# built {len(series)} series, {n:,} samples in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    rules = builtin_rules()
    cpu0 = time.process_time()
    t = time.perf_counter()
    rep = tune(series, rules)
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu0
    old = sum(r.old.pages for r in rep.rules)
    new = sum((r.new or r.old).pages for r in rep.rules)
    inc = sum(len(r.incidents) for r in rep.rules)
    caught = sum((r.new or r.old).caught for r in rep.rules)
    cand = sum(r.evaluated for r in rep.rules)
    host = f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores"
    print(f"tune_bench tune(): {len(series)} series x {args.days:g} d @ {args.step:g}s = {n:,} samples, "
          f"{len(rep.rules)} rules, {cand} candidates: {wall:.1f}s wall, {cpu:.1f}s CPU, peak RSS {rss_mb():.0f} MB; "
          f"pages {old} -> {new}, incidents caught {caught}/{inc} ({host})")
    for r in rep.rules:
        print(f"#   {r.rule.name:<12} pages {r.old.pages:>5} -> {(r.new or r.old).pages:>5}  incidents "
              f"{(r.new or r.old).caught}/{len(r.incidents)}  {r.proposal.describe(r.rule.op) if r.proposal else '-'}",
              file=sys.stderr)
    if args.store:
        from opsdash.model import Sample
        from opsdash.store import Store

        path = Path(args.store)
        if not path.exists():
            t = time.perf_counter()
            with Store(path) as st:
                for sd in series:
                    st.write_samples(Sample(t_, sd.target, sd.metric, v, sd.labels) for t_, v in zip(sd.ts, sd.vs))
            print(f"# wrote the store in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        with Store(path, readonly=True) as st:
            t = time.perf_counter()
            loaded = load_store(st, T0)
            load_s = time.perf_counter() - t
        m = sum(len(s.ts) for s in loaded)
        print(f"tune_bench load_store(): {len(loaded)} series, {m:,} samples from SQLite in {load_s:.1f}s; "
              f"load + tune = {load_s + wall:.1f}s ({host})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
