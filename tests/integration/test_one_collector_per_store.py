"""One collector per store: a second one refuses at once naming the first's PID; after a
kill -9 of the first, the next one starts at once; the TUI's embedded collector then reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsdash.collect.collector import CollectorThread
from opsdash.collector_lock import CollectorBusy, CollectorLock
from opsdash.config import load_config
from opsdash.store import Store

pytestmark = pytest.mark.integration


def collect(tmp: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(tmp / "c.toml"), "--store", str(tmp / "s.sqlite"),
         *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def wait_started(proc: subprocess.Popen, store: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        if CollectorLock(store).holder() == proc.pid and store.exists():
            with Store(store) as s:
                st = s.collector_status()
            if st and st["pid"] == proc.pid:
                return
        time.sleep(0.05)
    raise AssertionError("the collector did not start")


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "c.toml").write_text('[[hosts]]\nname = "self"\nprobes = ["local"]\ninterval = "1s"\n')
    return tmp_path


def test_a_second_collector_refuses_naming_the_first_and_one_starts_at_once_after_kill_9(tmp: Path) -> None:
    first = collect(tmp)
    try:
        wait_started(first, tmp / "s.sqlite")
        t = time.monotonic()
        second = collect(tmp)
        _, err = second.communicate(timeout=10)
        took = time.monotonic() - t
        assert second.returncode != 0 and took < 5.0
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and f"PID {first.pid}" in lines[0], err
        assert "another collector" in lines[0]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        t = time.monotonic()
        third = collect(tmp, "--duration", "1s")
        _, err = third.communicate(timeout=20)
        assert third.returncode == 0, err
        assert "collector started" in err and time.monotonic() - t < 10
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stderr.close()


def test_the_lock_excludes_a_second_holder_in_the_same_process_and_is_free_after_release(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    a = CollectorLock(store).acquire()
    with pytest.raises(CollectorBusy) as e:
        CollectorLock(store).acquire()
    assert e.value.pid == os.getpid() and f"PID {os.getpid()}" in str(e.value)
    a.release()
    b = CollectorLock(store)
    assert b.try_acquire()
    b.release()


def test_an_embedded_collector_just_reads_while_another_holds_the_lock(tmp: Path) -> None:
    cfg = load_config(tmp / "c.toml")
    store = tmp / "s.sqlite"
    held = CollectorLock(store).acquire()
    try:
        thread = CollectorThread(cfg, store)
        assert thread.start() is False and not thread.running
        assert f"PID {os.getpid()}" in (thread.busy or "")
    finally:
        held.release()
    thread = CollectorThread(cfg, store)
    try:
        assert thread.start() is True and thread.running
        assert CollectorLock(store).holder() == os.getpid()
        assert not CollectorLock(store).try_acquire()
    finally:
        thread.stop(timeout=5)
    assert not thread.running
    free = CollectorLock(store)
    assert free.try_acquire()  # released: a viewer may take over
    free.release()
