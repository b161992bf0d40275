"""Replay benchmark: 1,000,000 samples across 1,000 series through the built-in rules.

    python bench/replay_bench.py [--samples 1000000] [--series 1000] [--keep FILE]

Generates a JSON-lines file (150 hosts x 5 host metrics + 250 endpoints' p95,
one sample per series every 15 s, random walks that cross the thresholds now
and then, some oscillating around them), then measures:

- ``replay_file``: reading and parsing the JSON lines plus the engine (what
  ``opsdash replay`` does, without printing);
- the engine alone over samples already parsed into tuples.

The target from issue 5: the full replay under 20 s on the 2-core CI machine.
Prints one result line per measurement, ready for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opsdash.alerts.replay import iter_jsonl, replay, replay_file  # noqa: E402
from opsdash.alerts.rules import builtin_rules  # noqa: E402

T0 = 1_795_860_000.0
HOST_METRICS = [
    ("host.up", None, 1.0),
    ("host.cpu_percent", None, 40.0),
    ("host.mem_percent", None, 60.0),
    ("host.load1_per_cpu", None, 0.8),
    ("host.disk_percent", {"mount": "/"}, 70.0),
]


def series_list(n_series: int) -> list[tuple[str, str, dict | None, float]]:
    out = []
    n_endpoints = n_series // 4
    n_hosts = (n_series - n_endpoints) // len(HOST_METRICS)
    for h in range(n_hosts):
        for metric, labels, base in HOST_METRICS:
            out.append((f"web-{h:03d}", metric, labels, base))
    for e in range(n_series - len(out)):
        out.append((f"ep-{e:03d}", "endpoint.ttfb_p95_ms", {"vantage": "local"}, 250.0))
    return out


def generate(path: Path, n_samples: int, n_series: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    series = series_list(n_series)
    state = [base for *_, base in series]
    kind = [rng.random() for _ in series]  # < 0.05: oscillates around its threshold; < 0.15: excursions
    rounds = n_samples // len(series)
    dumps = json.dumps
    with open(path, "w") as f:
        for r in range(rounds):
            t = T0 + 15.0 * r
            lines = []
            for i, (target, metric, labels, base) in enumerate(series):
                if metric == "host.up":
                    v = 0.0 if kind[i] < 0.1 and 400 <= r < 410 else 1.0
                elif kind[i] < 0.05:
                    hi = {"endpoint.ttfb_p95_ms": (430, 290), "host.cpu_percent": (93, 75)}.get(metric, (base * 1.6, base))
                    v = hi[r % 2]
                else:
                    v = state[i] = max(0.0, state[i] + rng.gauss(0, base * 0.02) + (base - state[i]) * 0.01)
                    if kind[i] < 0.15 and r % 300 < 30:
                        v = base * 1.8
                d = {"t": t, "target": target, "metric": metric, "value": round(v, 2)}
                if labels:
                    d["labels"] = labels
                lines.append(dumps(d))
            f.write("\n".join(lines) + "\n")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--series", type=int, default=1_000)
    ap.add_argument("--keep", metavar="FILE", help="write the samples here and keep them")
    args = ap.parse_args()

    rules = builtin_rules()
    tmpdir = None
    if args.keep:
        path = Path(args.keep)
    else:
        tmpdir = tempfile.TemporaryDirectory()
        path = Path(tmpdir.name) / "samples.jsonl"
    try:
        t = time.perf_counter()
        generate(path, args.samples, args.series)
        gen_s = time.perf_counter() - t
        size_mb = path.stat().st_size / 1e6
        print(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"{platform.machine()}; {len(rules)} built-in rules")
        print(f"generate: {args.samples:,} samples, {size_mb:.0f} MB JSONL in {gen_s:.1f} s")

        t = time.perf_counter()
        res = replay_file(path, rules)
        full_s = time.perf_counter() - t
        fired = res.alerts_fired
        print(f"replay_file (parse + engine): {res.samples:,} samples, {res.series:,} series, "
              f"{len(res.transitions):,} transitions, {fired:,} fired in {full_s:.2f} s "
              f"({res.samples / full_s:,.0f} samples/s) -> {'PASS' if full_s < 20 else 'FAIL'} (< 20 s)")

        with open(path) as f:
            parsed = list(iter_jsonl(f, str(path)))
        t = time.perf_counter()
        res2 = replay(iter(parsed), rules)
        eng_s = time.perf_counter() - t
        assert len(res2.transitions) == len(res.transitions)
        print(f"engine only (pre-parsed): {res2.samples:,} samples in {eng_s:.2f} s "
              f"({res2.samples / eng_s:,.0f} samples/s); peak RSS {rss_mb():.0f} MB")
        by_rule = res.fired_by_rule()
        print("fired by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items())))
        return 0 if full_s < 20 else 1
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


if __name__ == "__main__":
    sys.exit(main())
