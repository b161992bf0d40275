"""A viewer's escalation sticks while a collector runs: the tier is raised once, the engine
never writes it back down, and a second escalation says "already at L3" without a row."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsdash.alerts.engine import alert_id
from opsdash.cli import main
from opsdash.errors import StoreError
from opsdash.store import Store
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

AID = alert_id("host-down", "web-1")


@pytest.fixture
def opsdash(capfd: pytest.CaptureFixture[str]):
    """A viewer's command, through the CLI's entry point in this process (stdout and stderr
    captured at the file descriptors): the same output without a Python start-up each."""
    capfd.readouterr()

    def run(tmp: Path, *args: str) -> subprocess.CompletedProcess:
        argv = [*args, "--config", str(tmp / "c.toml"), "--store", str(tmp / "s.sqlite")]
        rc = main(argv)
        out = capfd.readouterr()
        return subprocess.CompletedProcess(["opsdash", *argv], rc, out.out, out.err)

    return run


def host_polls_since(store: Path, t: float) -> int:
    with Store(store, readonly=True) as s:
        return len(s.history("web-1", "host.up", t))


def alert_row(store: Path):
    try:
        with Store(store, readonly=True) as s:
            return s.alert(AID)
    except StoreError:
        return None


def test_escalate_twice_while_a_collector_runs_gives_l3_then_already_at_l3_with_one_row(tmp_path: Path, opsdash) -> None:
    (tmp_path / "known_hosts").write_text("")
    (tmp_path / "c.toml").write_text(  # nothing listens on the port: the host is down
        f'[[hosts]]\nname = "web-1"\naddress = "127.0.0.1"\nport = {free_port()}\nuser = "ops"\n'
        f'known_hosts = "{tmp_path / "known_hosts"}"\nprobes = ["health"]\ninterval = "1s"\ntimeout = "2s"\n')
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "opsdash", "collect", "--config", str(tmp_path / "c.toml"),
                             "--store", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not ((a := alert_row(store)) and a.state == "firing"):
            assert time.monotonic() < deadline and proc.poll() is None, "host-down never fired"
            time.sleep(0.1)
        assert a.tier == "L2"
        first = opsdash(tmp_path, "escalate", AID)
        assert first.returncode == 0, first.stderr
        assert "L2 → L3" in first.stdout
        # The collector rewrites the row on every poll and tick: let it poll twice more.
        escalated = time.time()
        deadline = time.monotonic() + 30
        while host_polls_since(store, escalated) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, "the collector stopped polling"
            time.sleep(0.1)
        assert alert_row(store).tier == "L3"
        second = opsdash(tmp_path, "escalate", AID)
        assert second.returncode == 0, second.stderr
        assert "already at L3" in second.stderr and "L2 → L3" not in second.stdout
        with Store(store, readonly=True) as s:
            assert [(f, t) for _, _, _, f, t in s.escalations(AID)] == [("L2", "L3")]
        listed = opsdash(tmp_path, "alerts")
        assert f"{AID}  CRITICAL firing   L3" in listed.stdout, listed.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert "Traceback" not in err
