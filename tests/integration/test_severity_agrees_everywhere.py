"""The Health pane, `opsdash once` and the Alerts pane agree on a level, for a config whose
rules override the built-in thresholds: all three ask the same rules.

A real sshd plays the host; its ``df`` (first on the session's PATH) reports / at 75%.
With a user rule ``host-disk`` (warn 70, crit 80) that is a warning everywhere: `once`
exits 1 with status warning and the host-disk alert, a collector's store holds a firing
warning, and the TUI over that store shows the host ``▲ warn`` with its disk figure in the
warning colour and the alert as ``▲ warn``. The built-in ``disk`` rule changed by name (warn
60, crit 70) makes the same 75% critical in all three. CPU, memory and load are this
machine's real figures: their rules are switched off so the disk alone decides."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from opsdash.config import load_config
from opsdash.store import Store
from opsdash.ui.app import OpsdashApp
from tests.support.sshd import SSHD, Sshd, start_sshd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("ssh-keygen") or not Path(SSHD).exists(), reason="openssh-server not installed"),
]

HOST = "db-2"
DF = ("Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
      "/dev/vda1        1000000   750000    250000      75% /\n"
      "/dev/vdb1        1000000   100000    900000      10% /boot\n")
QUIET = "".join(f'[[rules]]\nname = "{n}"\nmetric = "{m}"\nwarn = 1\nenabled = false\n'
                for n, m in (("cpu", "host.cpu_percent"), ("memory", "host.mem_percent"), ("load", "host.load1_per_cpu")))
CASES = {
    # a rule of the user's beside the built-in disk rule (85/95, under which 75% is fine)
    "user-rule": ('[[rules]]\nname = "host-disk"\nmetric = "host.disk_percent"\nwarn = 70\ncrit = 80\n'
                  'summary = "{target} disk {mount} {value:.0f}%"\n', "host-disk", "warning"),
    # the built-in changed by name, as `tune --write` writes it
    "builtin-changed": ('[[rules]]\nname = "disk"\nmetric = "host.disk_percent"\nwarn = 60\ncrit = 70\nfor = "0s"\n',
                        "disk", "critical"),
}
PANE = {"warning": ("▲ warn", "warn"), "critical": ("✖ CRIT", "crit")}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    base = tmp_path_factory.mktemp("severity")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    (base / "df.txt").write_text(DF)
    df = bin_dir / "df"
    df.write_text(f"#!/bin/sh\ncat {base / 'df.txt'}\n")
    df.chmod(0o755)
    server = start_sshd(base / "sshd", env={"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"})
    try:
        yield server
    finally:
        server.stop()


def _opsdash(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opsdash", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


async def _settled(pilot) -> None:
    for _ in range(300):
        await pilot.pause(0.02)
        if pilot.app.settled and pilot.app.view is not None:
            return
    raise AssertionError("the app never settled")


@pytest.mark.parametrize("case", sorted(CASES))
async def test_health_pane_once_and_alerts_pane_agree(case: str, host: Sshd, tmp_path: Path) -> None:
    rules, rule, level = CASES[case]
    cfg = tmp_path / "config.toml"
    cfg.write_text(host.host_toml(HOST, probes=["health"], interval="1s", timeout=10) + QUIET + rules)

    # once: the Nagios status and the alert it names
    once = _opsdash("once", "--config", str(cfg), "--format", "json")
    assert once.returncode == {"warning": 1, "critical": 2}[level], once.stderr
    snap = json.loads(once.stdout)
    assert snap["status"] == level
    disk = [a for a in snap["alerts"] if a["rule"] == rule]
    assert [(a["severity"], a["state"], a["value"]) for a in disk] == [(level, "firing", 75.0)]
    assert {a["rule"] for a in snap["alerts"]} == {rule}  # nothing else decided a level

    # a collector's store: the alert the Alerts pane shows
    store = tmp_path / "s.sqlite"
    collect = _opsdash("collect", "--config", str(cfg), "--store", str(store), "--duration", "2.5s")
    assert collect.returncode == 0, collect.stderr
    with Store(store, readonly=True) as s:
        firing = [a for a in s.alerts(states=("firing",), now=time.time())]
        polled = s.latest("host", HOST)[0]["t"]
    assert [(a.rule, a.severity) for a in firing] == [(rule, level)]
    # The panes as they were just after the last poll: on a loaded machine the TUI may start more
    # than three 1 s intervals later, and its row would then be (rightly) stale.
    app = OpsdashApp(store_path=store, config=load_config(cfg), save_theme=False, user_themes=tmp_path / "none",
                     theme="opsdash-dark", poll_interval=3600, now=lambda: polled + 0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settled(pilot)
        (row,) = app.view.rows["health"]
        assert row.cells[0] == PANE[level]
        assert row.cells[4] == ("75% /", PANE[level][1])  # the disk figure, coloured by the same rule
        assert row.cells[2][1] == row.cells[3][1] == ""  # CPU, memory: no rule in force, uncoloured
        await pilot.press("6")
        await pilot.pause(0.1)
        alerts = [r for r in app.view.rows["alerts"] if r.cells[1][0] == "firing"]
        assert [(r.tags["rule"], r.cells[0]) for r in alerts] == [(rule, PANE[level])]
        s = app.view.summary
        assert (s.warn, s.crit) == ((1, 0) if level == "warning" else (0, 1))
