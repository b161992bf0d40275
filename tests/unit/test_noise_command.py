"""`opsdash noise` prints the Noise screen's table (the same noise_table) with pages per
shift, as JSON and Markdown."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from opsdash.store import Store


def test_noise_prints_pages_per_day_and_shift_flap_and_ack_per_rule(tmp_path: Path) -> None:
    now = time.time()
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        for day in range(7):  # host-down pages once a day, acked after 10 minutes
            t = now - (day + 0.5) * 86400
            st.add_transition(t, "a1", "host-down", "web-1", "pending", "firing", "critical", 0.0, "down")
            st.add_ack("a1", who="ana", t=t + 600)
            st.add_transition(t + 900, "a1", "host-down", "web-1", "firing", "resolved", "critical", 1.0, "up")
        st.add_transition(now - 3600, "a2", "ttfb-p95", "shop", "pending", "flapping", "warning", 900.0, "flapping")

    def noise(fmt: str) -> str:
        r = subprocess.run([sys.executable, "-m", "opsdash", "noise", "--since", "7d", "--format", fmt, "--store",
                            str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = json.loads(noise("json"))
    rules = {r["rule"]: r for r in out["rules"]}
    hd = rules["host-down"]
    assert (hd["pages"], hd["pages_per_day"], hd["pages_per_shift"], hd["acked"], hd["median_ack_s"]) == (7, 1.0, 0.33, 7, 600)
    assert rules["ttfb-p95"]["flap_percent"] == 100.0 and rules["ttfb-p95"]["pages"] == 0
    assert out["totals"]["pages"] == 7 and out["shift_s"] == 8 * 3600
    md = noise("md")
    assert "| host-down | 7 | 1 | 0.33 | 1 | 0 | 0% | 7 | 0 | 10m |" in md
    assert "| ttfb-p95 | 0 | 0 | 0 | 1 | 1 | 100% | 0 | 0 | - |" in md
