"""A host whose shell prints a banner before anything else still reads as healthy.

A real sshd whose user's ``~/.bashrc`` echoes a login banner (bash sources it
for every command sshd starts, our long-lived ``sh`` included): the banner
comes before the health reply on the first poll. The reply is found by its
section markers, so the first poll is already good, ``once`` says OK, and the
banner stays in the raw output kept for the drill-down.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from opsdash.collect.collector import Collector
from opsdash.collect.health import health_script, parse_health_output
from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from tests.support.sshd import SSHD, Sshd, start_sshd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("ssh-keygen") or not Path(SSHD).exists(), reason="openssh-server not installed"),
]

BANNER = "Welcome to db-7 (Debian GNU/Linux 12)\n\n  Authorised use only. All sessions are logged.\n"


@pytest.fixture(scope="module")
def banner_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    # Our own sshd: its HOME (and so its ~/.bashrc) is this test's alone.
    server = start_sshd(tmp_path_factory.mktemp("banner-sshd"))
    (server.dir / "banner.txt").write_text(BANNER)
    (server.dir / "home" / ".bashrc").write_text(f"cat {server.dir / 'banner.txt'}\n")
    yield server
    server.stop()


def _config(server: Sshd, tmp: Path) -> Path:
    cfg = tmp / "banner.toml"
    cfg.write_text(server.host_toml("db-7", probes=["health"], interval="1s", timeout=10))
    return cfg


def test_once_reports_a_host_with_a_login_banner_ok(banner_sshd: Sshd, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from opsdash.cli import main

    cfg = _config(banner_sshd, tmp_path)
    rc = main(["once", "--config", str(cfg), "--store", str(tmp_path / "s.sqlite"), "--format", "json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    host = doc["hosts"][0]
    # The host is up and read; only a busy CI machine's own CPU may raise an alert.
    assert (host["state"], host["error"]) == ("ok", None), out
    assert host["health"]["mem_percent"] > 0 and host["health"]["disks"]
    assert rc != 3 and not [a for a in doc["alerts"] if a["rule"] == "host-down"], doc["alerts"]
    assert doc["status"] in ("ok", "warning") or all(a["rule"] in ("cpu", "load") for a in doc["alerts"])
    rc = main(["once", "--config", str(cfg), "--store", str(tmp_path / "s.sqlite")])
    text = capsys.readouterr().out
    assert rc != 3 and re.search(r"^\s+db-7\s+ok\s", text, re.M) and "Welcome" not in text, text


async def test_the_first_poll_is_good_and_the_raw_reply_keeps_the_banner(banner_sshd: Sshd, tmp_path: Path) -> None:
    config = parse_config(_config(banner_sshd, tmp_path).read_text(), "banner.toml")
    # The real reply of a fresh shell: banner first, then our sections.
    ssh = SSHHost(config.hosts[0])
    try:
        raw, rc = await ssh.shell_request(health_script(), 10)
    finally:
        await ssh.close()
    assert raw.startswith(BANNER) and "=== loadavg ===" in raw  # what the drill-down's raw view shows
    reading = parse_health_output(raw, None, rc)
    assert reading.health.mem_percent > 0 and reading.df_error is None
    # Through the collector: the very first poll of a new shell counts the host up.
    collector = Collector(config, None)
    up: list[float] = []
    collector.listeners.append(lambda samples: up.extend(x.value for x in samples if x.metric == "host.up"))
    await collector.snapshot_once(probes={"health"})
    hs = collector.hosts["db-7"]
    assert up and up[0] == 1.0 and 0.0 not in up, up
    assert (hs.state, hs.error) == ("ok", None)
