"""A user `command` backup that fails, however it fails, is a failed restore test
with the reason, and it pages; never "not polled yet", never silence."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsdash.alerts.engine import engine_for
from opsdash.kinds.backups._host import probe_backup
from opsdash.collect.collector import Collector
from opsdash.collect.runner import LocalRunner
from opsdash.config import BackupConfig, RestoreTestConfig, parse_config
from tests.support.sshd import Sshd

EXIT2 = 'echo "checking /srv/backup"\necho "restore of etc.tar failed: disk full" >&2\nexit 2'


def _toml_string(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


async def _probe(command: str, restore_test: bool = True, timeout: float = 10):
    cfg = BackupConfig(name="cmd", kind="command", command=command,
                       restore_test=RestoreTestConfig(timeout=timeout) if restore_test else None)
    return await probe_backup(LocalRunner(), cfg, now=time.time(), run_restore=True, timeout=timeout)


async def test_exit_2_is_a_failed_restore_test_with_the_commands_reason():
    st = await _probe(EXIT2)
    rt = st.restore_test
    assert rt is not None and rt.ok is False
    assert rt.detail == "command exited 2: restore of etc.tar failed: disk full"
    assert st.error == rt.detail


@pytest.mark.parametrize("command, expect", [
    # A script-wide death, not just the command's: the wrapper's own status and last words.
    ("kill -9 $$", "ended the probe script (rc 137): Killed"),
    ('echo "unterminated', "Syntax error"),
    ("exec >&-; echo 'stdout closed' >&2; exit 3", "command exited 3: stdout closed"),
])
async def test_a_command_that_breaks_the_script_still_gives_a_failed_test_with_the_reason(command, expect):
    st = await _probe(command)
    rt = st.restore_test
    assert rt is not None and rt.ok is False and expect in rt.detail, rt.detail


async def test_a_command_that_prints_past_the_cap_fails_its_test_and_says_so():
    st = await _probe("yes")
    assert st.restore_test.ok is False and "output over 8 MiB" in st.restore_test.detail


async def test_a_command_that_hangs_fails_its_test_within_its_timeout():
    t0 = time.monotonic()
    st = await _probe("sleep 300", timeout=1)
    assert time.monotonic() - t0 < 5
    assert st.restore_test.ok is False and "did not finish within 1s" in st.restore_test.detail


async def test_without_a_restore_test_table_the_command_is_the_test():
    st = await _probe(EXIT2, restore_test=False)
    assert st.restore_test is not None and not st.restore_test.ok


def test_once_over_ssh_reports_the_failed_test_and_the_alert(sshd: Sshd, tmp_path: Path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(sshd.host_toml("db-1", probes=[]) + f"""
  [[hosts.backups]]
  name = "nightly"
  kind = "command"
  command = {_toml_string(EXIT2)}
  restore_test = {{ every = "24h", timeout = "30s" }}
""")
    r = subprocess.run([sys.executable, "-m", "opsdash", "once", "--config", str(cfg), "--store", str(tmp_path / "s.db"),
                        "--probe", "backups", "--run-restore-tests", "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    out = json.loads(r.stdout)
    b = out["hosts"][0]["backups"][0]
    assert b["restore_test"] is not None and b["restore_test"]["ok"] is False, (b, r.stderr[-500:])
    assert b["restore_test"]["detail"] == "command exited 2: restore of etc.tar failed: disk full"
    alerts = [a for a in out["alerts"] if a["rule"] == "restore-test-failed"]
    assert alerts and alerts[0]["target"] == "db-1" and alerts[0]["severity"] == "critical", out["alerts"]
    assert alerts[0]["summary"].endswith("restore test failed: command exited 2: restore of etc.tar failed: disk full")
    assert r.returncode == 2  # Nagios CRITICAL


async def test_the_collector_records_it_and_the_alert_fires(sshd: Sshd):
    config = parse_config(sshd.host_toml("db-1", probes=[]) + f"""
  [[hosts.backups]]
  name = "nightly"
  kind = "command"
  command = {_toml_string(EXIT2)}
  interval = "1h"
  restore_test = {{ every = "1s", timeout = "10s" }}
""", "config.toml")
    engine = engine_for(config)
    c = Collector(config, alert_engine=engine)
    await c.run(duration=2.5)
    st = c.hosts["db-1"].row("backup", "nightly").status
    assert st.restore_test is not None and not st.restore_test.ok
    assert "disk full" in st.restore_test.detail
    firing = [a for a in engine.active() if a.rule == "restore-test-failed"]
    assert firing and firing[0].state == "firing" and firing[0].target == "db-1"
    # The page names the backup and says why, as `once` does.
    assert firing[0].summary == "db-1 backup nightly: restore test failed: command exited 2: restore of etc.tar failed: disk full"
    await asyncio.sleep(0)
