"""A store locked for 60 s while a down host recovers (issue 14, must show 1, the long run).

    python bench/store_outage.py

Starts a throwaway sshd, a switch port in front of it (down, then up) and
`opsdash collect` at 1 s polls; when host-down fires, holds BEGIN IMMEDIATE on
the store from another connection for 60 s while the host comes back, then
releases it and measures how long the store takes to show the alert resolved.
tests/integration/test_store_outage_recovery.py is the 10 s version. Everything lives in
/tmp/opsdash-store-outage and is stopped by PID at the end.
"""
import json
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.sshd import start_sshd
import tests.integration.test_store_outage_recovery as T
base = Path("/tmp/opsdash-store-outage"); base.mkdir(exist_ok=True); sshd = start_sshd(base / "sshd")
store = base / "s.sqlite"
for p in base.glob("s.sqlite*"): p.unlink()
proc, log, switch = T.start(base, sshd, store)
try:
    T.wait_for(lambda: store.exists() and T.state(store) == "firing", 20, "firing")
    other = sqlite3.connect(store, isolation_level=None); other.execute("BEGIN IMMEDIATE")
    locked = time.time(); switch.up = True
    time.sleep(60)
    print("state at release:", T.state(store))
    other.execute("ROLLBACK"); other.close(); released = time.time()
    took = T.wait_for(lambda: T.state(store) == "resolved", 10, "resolved")
    print(f"resolved in the store {took:.2f}s after release")
finally:
    text = T.finish(proc, switch, log); sshd.stop()
print(text)
polls = json.loads((base / "stats.json").read_text())["polls"]
from opsdash.store import Store
with Store(store, readonly=True) as s:
    print("polls", polls, "host.up samples", len(s.history("web-1", "host.up", 0)))
    print([(x.from_state, x.to_state, round(x.t - locked, 1)) for x in s.transitions()])
