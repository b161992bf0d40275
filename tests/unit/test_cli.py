"""The command line: option placement, one-line errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from opsdash.cli import build_parser


def test_config_and_store_work_before_or_after_the_subcommand() -> None:
    p = build_parser()
    assert p.parse_args(["--config", "A", "--store", "S", "alerts"]).config == "A"
    assert p.parse_args(["--config", "A", "--store", "S", "alerts"]).store == "S"
    assert p.parse_args(["alerts", "--config", "B"]).config == "B"
    assert p.parse_args(["once"]).config is None


def test_every_subcommand_has_help() -> None:
    r = subprocess.run([sys.executable, "-m", "opsdash", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for cmd in ("once", "collect", "check-config", "replay", "tune", "alerts", "ack", "unack", "silence",
                "escalate", "handover", "note", "demo", "init"):
        assert cmd in r.stdout, cmd


def test_check_config_warns_about_a_world_readable_secret(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    secret.chmod(0o644)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[[sources]]\nkind = "prometheus"\nname = "p"\nurl = "http://127.0.0.1:9/"\nbearer_token_file = "{secret}"\n')
    cfg.chmod(0o644)
    r = subprocess.run([sys.executable, "-m", "opsdash", "check-config", "--config", str(cfg)],
                       capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 0
    assert "warning:" in r.stderr and "s3cret" not in r.stderr + r.stdout


def test_init_writes_a_config_that_checks(tmp_path: Path) -> None:
    cfg = tmp_path / "sub" / "config.toml"
    r = subprocess.run([sys.executable, "-m", "opsdash", "init", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0 and cfg.exists()
    r = subprocess.run([sys.executable, "-m", "opsdash", "check-config", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    again = subprocess.run([sys.executable, "-m", "opsdash", "init", "--config", str(cfg)], capture_output=True, text=True)
    assert again.returncode != 0 and "not overwriting" in again.stderr
