"""Every benchmark in bench/ still runs end to end, at toy sizes.

The figures live in bench/RESULTS.md (bench/run); this only keeps the scripts
from rotting between runs (an import renamed under a benchmark broke the
memory bench once, unnoticed until the next full run). No timing is asserted:
a script that gates on its target may exit 1 here on a busy machine, but it
must print its table and never a traceback.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.support import REPO

ROOT = REPO

# script, toy-size arguments, text its report must contain, exit codes that are fine
SMOKE = [
    ("memory_bench.py", ["--hosts", "5", "--endpoints", "3", "--minutes", "1"], "after 1 simulated minutes", {0}),
    ("replay_bench.py", ["--samples", "20000", "--series", "20"], "replay_file (parse + engine): 20,000 samples", {0, 1}),
    ("tune_bench.py", ["--series", "5", "--days", "0.2"], "5 series x 0.2 d", {0}),
    ("poll_cost.py", ["--hosts", "3", "--rounds", "1", "--marks", "2", "4"], "| 3 |", {0}),
    ("ttfb_accuracy.py", ["--delays", "50", "--probes", "2"], "| injected delay |", {0}),
    ("tui_bench.py", ["--hosts", "20", "--idle", "1", "--rounds", "2", "--warm", "1", "--filter", "node-001", "--starts", "1"],
     "| `escape (clear filter)` |", {0, 1}),
    ("tui_bench.py", ["--hosts", "20", "--idle", "1", "--rounds", "2", "--warm", "1", "--filter", "node-001", "--starts", "1",
                      "--size", "160x48"], "all six panes in a grid", {0, 1}),
]


@pytest.mark.parametrize("script,args,expect,ok_rc", SMOKE, ids=[s[0] + ("-wide" if "160x48" in s[1] else "") for s in SMOKE])
def test_bench_script_runs(script: str, args: list[str], expect: str, ok_rc: set[int]) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode in ok_rc, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert expect in r.stdout, r.stdout[-3000:]
