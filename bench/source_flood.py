"""By hand: 120 s of `opsdash collect` against a Prometheus and an Alertmanager that answer
every request with a 3 GB stream (tests/support/fake_prometheus.py), beside a healthy host, endpoint
and Prometheus source (one of whose gauges is NaN). Prints the collector's peak RSS
(VmHWM), what was streamed, the collect stats and every source's row. Loopback only;
everything it starts is stopped.

    python bench/source_flood.py [--duration 120s]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsdash.store import Store  # noqa: E402
from tests.support.fake_prometheus import FakePrometheus  # noqa: E402


def config(url: str) -> str:
    return f"""
[[hosts]]
name = "box"
probes = ["local"]
interval = "1s"

[[endpoints]]
name = "ok"
url = "{url}/ok"
interval = "1s"

[[sources]]
kind = "prometheus"
name = "flood"
url = "{url}/flood"
interval = "1s"
timeout = "10s"

[[sources]]
kind = "alertmanager"
name = "am-flood"
url = "{url}/flood"
interval = "1s"
timeout = "10s"

[[sources]]
kind = "prometheus"
name = "good"
url = "{url}/node/node_load1/NaN"
interval = "1s"
"""


def vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        pass
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", default="120s")
    args = ap.parse_args()
    fake = FakePrometheus()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg, store, stats = Path(tmp, "config.toml"), Path(tmp, "s.db"), Path(tmp, "stats.json")
            cfg.write_text(config(fake.url))
            p = subprocess.Popen([sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store",
                                  str(store), "--duration", args.duration, "--stats-json", str(stats)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                 env={**os.environ, "OPSDASH_CONFIG": "/nonexistent"})
            hwm = 0.0
            while p.poll() is None:
                hwm = vm_hwm_mb(p.pid) or hwm
                time.sleep(1)
            _, err = p.communicate()
            print(f"exit {p.returncode}; {err.strip().splitlines()[-1] if err.strip() else ''}")
            print(f"collector VmHWM {hwm:.0f} MB; streamed to it {fake.flood_sent / 2**20:.0f} MiB in "
                  f"{fake.flood_requests('query')} queries and {fake.flood_requests('alerts')} alert lists")
            print(stats.read_text())
            s = Store(store)
            try:
                for r in s.latest("source"):
                    print(r["target"], r["data"]["state"], r["data"]["error"])
            finally:
                s.close()
    finally:
        fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
