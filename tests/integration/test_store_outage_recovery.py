"""A host recovers while the store cannot be written (a write transaction held by someone
else; a full disk): once the store is writable again, the alert is resolved there within
two polls, `opsdash alerts` agrees, the samples polled meanwhile are all written, and the
collector said so on stderr: one line for the outage, one for the recovery."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from opsdash.alerts.engine import alert_id
from opsdash.errors import StoreError
from opsdash.store import Store

pytestmark = pytest.mark.integration

INTERVAL = 1.0
HOLD = 10.0  # > the store's 5 s busy timeout: the collector's writes really fail
AID = alert_id("host-down", "web-1")


class Switch:
    """A TCP port in front of the test sshd: "down" hangs up on every connection, "up" forwards."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.up = False
        self.answered = threading.Event()  # the sshd has answered a poll through us
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self.srv.accept()
            except OSError:
                continue
            if not self.up:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                t = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                t.start()
                self._threads.append(t)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        a.settimeout(None)
        last = None
        try:
            while not self._stop.is_set():
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
                if a.getpeername()[1] == self.target:
                    # A reply after a quiet spell is a poll's answer on a session already set up.
                    now = time.monotonic()
                    if last is not None and now - last >= 0.5:
                        self.answered.set()
                    last = now
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            a.close()  # each socket is `a` of exactly one pipe

    def close(self) -> None:
        self._stop.set()
        self.srv.close()
        for t in self._threads:
            t.join(2)


def state(store: Path) -> str | None:
    try:
        with Store(store, readonly=True) as s:
            a = s.alert(AID)
    except StoreError:  # the collector is creating it
        return None
    return a.state if a else None


def wait_for(pred, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def start(tmp: Path, sshd, store: Path) -> tuple[subprocess.Popen, Path, Switch]:
    switch = Switch(sshd.port)
    known = tmp / "known_hosts"  # the sshd's key, at the switch's port
    known.write_text(f"[127.0.0.1]:{switch.port} {sshd.host_pub}\n")
    (tmp / "c.toml").write_text(sshd.host_toml("web-1", port=switch.port, known_hosts=str(known),
                                               interval=f"{INTERVAL:g}s", timeout="2s", probes=["health"]))
    log = tmp / "collect.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsdash", "collect", "--config", str(tmp / "c.toml"), "--store", str(store),
             "--stats-json", str(tmp / "stats.json")],
            stdout=subprocess.DEVNULL, stderr=err,
        )
    return proc, log, switch


def finish(proc: subprocess.Popen, switch: Switch, log: Path) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    switch.close()
    return log.read_text()


def check_recovered(tmp: Path, store: Path, outage: tuple[float, float]) -> None:
    took = wait_for(lambda: state(store) == "resolved", 10, "the resolution in the store")
    assert took <= 2 * INTERVAL + 0.5, f"resolved in the store {took:.1f}s after the store came back"
    out = subprocess.run(
        [sys.executable, "-m", "opsdash", "alerts", "--all", "--format", "json", "--config", str(tmp / "c.toml"),
         "--store", str(store)], capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    rows = rows["alerts"] if isinstance(rows, dict) else rows
    assert [a["state"] for a in rows if a["id"] == AID] == ["resolved"]
    with Store(store, readonly=True) as s:
        trs = [(x.from_state, x.to_state) for x in s.transitions(alert_id=AID)]
        ups = s.history("web-1", "host.up", outage[0], outage[1])
    assert trs[-1] == ("firing", "resolved") and trs.count(("firing", "resolved")) == 1
    assert any(v == 1.0 for _, v in ups), f"the recovery polled during the outage is in the store: {ups}"


def check_nothing_lost(tmp: Path, store: Path) -> None:
    """Every health poll wrote its host.up sample, those of the outage too (the last poll
    may have been cut short by the stop)."""
    polls = json.loads((tmp / "stats.json").read_text())["polls"]
    with Store(store, readonly=True) as s:
        n = len(s.history("web-1", "host.up", 0))
    assert polls - 1 <= n <= polls, (n, polls)


def test_a_recovery_while_the_store_is_locked_is_in_the_store_within_two_polls(tmp_path: Path, sshd) -> None:
    store = tmp_path / "s.sqlite"
    proc, log, switch = start(tmp_path, sshd, store)
    try:
        wait_for(lambda: store.exists() and state(store) == "firing", 20, "host-down firing")
        other = sqlite3.connect(store, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # a write transaction held by someone else
        locked = time.time()
        switch.up = True
        time.sleep(HOLD)
        assert state(store) == "firing"  # readers still read; the recovery waits for the store
        other.execute("ROLLBACK")
        other.close()
        released = time.time()
        check_recovered(tmp_path, store, (locked, released))
    finally:
        text = finish(proc, switch, log)
    check_nothing_lost(tmp_path, store)
    errors = [line for line in text.splitlines() if line.startswith("ERROR store: cannot write")]
    assert len(errors) == 1 and "locked" in errors[0], text
    assert len([line for line in text.splitlines() if line.startswith("INFO store: writable again")]) == 1, text
    assert f"WARNING page: host-down on web-1 (critical, id {AID})" in text
    assert f"INFO resolved: host-down on web-1 (critical, id {AID})" in text
    assert "Traceback" not in text


def test_a_recovery_while_the_disk_is_full_is_in_the_store_once_space_returns(tmp_path: Path, sshd) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True,
                       capture_output=True, timeout=10)
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot mount a small tmpfs here: {getattr(e, 'stderr', b'') or e}")
    store = mnt / "s.sqlite"
    filler = mnt / "filler"
    proc = switch = None
    try:
        proc, log, switch = start(tmp_path, sshd, store)
        wait_for(lambda: store.exists() and state(store) == "firing", 20, "host-down firing")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)  # fill the disk to the last block
        try:
            for block in (65536, 4096, 512):
                try:
                    while True:
                        os.write(fd, b"\0" * block)
                except OSError:
                    pass
        finally:
            os.close(fd)
        full = time.time()
        wait_for(lambda: "ERROR store: cannot write" in log.read_text(), 20, "the collector to meet the full disk")
        switch.up = True
        # The recovery must be polled while the disk is still full: wait for the sshd to answer
        # a poll through the switch (on a loaded machine connecting may take seconds).
        assert switch.answered.wait(20), "no poll reached the sshd through the switch"
        time.sleep(2 * INTERVAL)
        assert state(store) == "firing"
        filler.unlink()
        freed = time.time()
        check_recovered(tmp_path, store, (full, freed))
        text = finish(proc, switch, log)
        proc = None
        check_nothing_lost(tmp_path, store)
        assert "full" in next(line for line in text.splitlines() if line.startswith("ERROR store: cannot write"))
        assert "INFO store: writable again" in text and "Traceback" not in text
        with Store(store, readonly=True) as s:
            assert s._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        if proc is not None:
            finish(proc, switch, log)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)
