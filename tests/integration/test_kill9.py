"""kill -9 at random moments during 40 collector runs (OPSDASH_KILL9_RUNS=100 for a deeper run): no ack, silence or note
is lost, the store stays intact, and at most one poll of samples is lost."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from opsdash.store import Store

pytestmark = pytest.mark.integration

RUNS = int(os.environ.get("OPSDASH_KILL9_RUNS", "40"))  # four stores, each reopened by a run after the other
STORES = 4
INTERVAL = 1.0
FLUSH_PERIOD = 0.5  # the collector's writer batches this long at most
# Most runs are killed at a random moment of the two polls after their first poll is on
# disk (mid-poll, mid-batch, mid-write); every fifth at a random moment of its start-up.
# Keyed to what the run has done, not to a fixed time, so a loaded machine (where start-up
# alone can take several seconds) neither fails the test nor makes every run wait for it.
KILL_WITHIN_S = 2 * INTERVAL
START_UP_KILL_EVERY = 5
POLL_DEADLINE_S = 60.0  # generous: a run that has not polled by then is killed and counts as not polled


def one_run(i: int, base: Path, rng: random.Random) -> dict:
    store_path = base / f"store-{i % STORES}.sqlite"
    cfg = base / "config.toml"
    started_at = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    written = {"acks": [], "silences": [], "notes": []}
    # A viewer writes acks, silences and notes while the collector runs.
    kill_at = time.monotonic() + rng.uniform(0.1, 1.5) if i % START_UP_KILL_EVERY == 0 else None
    deadline = time.monotonic() + POLL_DEADLINE_S
    k = 0
    while time.monotonic() < (kill_at if kill_at is not None else deadline):
        time.sleep(rng.uniform(0.05, 0.3))
        try:
            with Store(store_path) as s:
                tag = f"run{i}-{k}"
                s.add_ack(f"alert-{tag}", who="tester", note=f"ack {tag}")
                s.add_silence({"target": tag}, ends_at=time.time() + 3600, who="tester", note=f"silence {tag}")
                s.add_note(f"note {tag}", who="tester")
                written["acks"].append(f"ack {tag}")
                written["silences"].append(f"silence {tag}")
                written["notes"].append(f"note {tag}")
                k += 1
                if kill_at is None and s.history("self", "host.mem_percent", started_at):
                    kill_at = time.monotonic() + rng.uniform(0.0, KILL_WITHIN_S)  # this run's first poll is on disk
        except Exception:
            continue  # the store may not exist for the first few ms; such a write was never acknowledged
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return {"store": store_path, "written": written, "started_at": started_at, "killed_at": killed_at, "stderr": err}


@pytest.mark.waits  # mostly waiting: started first (tests/conftest.py)
def test_kill_minus_nine_loses_nothing_acknowledged(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(f'[[hosts]]\nname = "self"\nprobes = ["local"]\ninterval = "{INTERVAL}s"\n')
    rng = random.Random(1234)
    seeds = [random.Random(rng.random()) for _ in range(RUNS)]
    # One thread per store runs its runs one after the other (never two collectors on a
    # store), so no run waits for another store's slowest run.
    def runs_on(store: int) -> list[dict]:
        return [one_run(i, tmp_path, seeds[i]) for i in range(store, RUNS, STORES)]

    with ThreadPoolExecutor(STORES) as pool:
        results = [r for rs in pool.map(runs_on, range(STORES)) for r in rs]
    assert not [r["stderr"] for r in results if "Traceback" in r["stderr"]]
    by_store: dict[Path, list[dict]] = {}
    for r in results:
        by_store.setdefault(r["store"], []).append(r)
    late_losses = runs_with_samples = 0
    for path, runs in by_store.items():
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
        with Store(path) as s:
            acks = {a.note for a in s.acks()}
            silences = {x.note for x in s.silences()}
            notes = {n.text for n in s.notes()}
            for r in runs:
                assert set(r["written"]["acks"]) <= acks
                assert set(r["written"]["silences"]) <= silences
                assert set(r["written"]["notes"]) <= notes
            samples = s.history("self", "host.mem_percent", 0)
        times = [t for t, _ in samples]
        for r in runs:
            mine = [t for t in times if r["started_at"] <= t <= r["killed_at"]]
            if not mine:
                continue  # killed while starting up, before its first write: at most that first poll lost
            runs_with_samples += 1
            # The last sample on disk is at most one poll (plus one write batch) old.
            if r["killed_at"] - max(mine) > INTERVAL + FLUSH_PERIOD + 0.5:
                late_losses += 1
    assert runs_with_samples >= RUNS // 3, f"only {runs_with_samples} of {RUNS} runs got to poll: the test would prove nothing"
    assert late_losses == 0, f"{late_losses} runs lost more than one poll"
