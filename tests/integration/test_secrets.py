"""Secrets never leave their file: not in commands, probe output, errors, logs, the store or JSON.

A real restic repository is probed through LocalRunner with the right and a
wrong password (from a password_file, and once from ``env``), restore test and
check included, through the Collector into a real SQLite store. Every command
line, every script sent on stdin, every result, every log record, every byte
of the store and the ``once`` JSON are searched for the passwords.

For [[sources]], bearer tokens and basic-auth passwords are read from files:
their contents must not show in the config objects' repr/str, in transport
errors, or in check-config's output (nor a password written into a URL).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping

import pytest

from opsdash.kinds.backups._host import probe_backup, run_check
from opsdash.collect.collector import Collector
from opsdash.collect.runner import CommandResult, LocalRunner
from opsdash.config import parse_config
from opsdash.errors import ProbeError
from opsdash.report.snapshot import build, render_text
from opsdash.store import Store

needs_restic = pytest.mark.skipif(shutil.which("restic") is None, reason="restic binary not installed")

RIGHT = "right-" + secrets.token_hex(12)
WRONG = "wrong-" + secrets.token_hex(12)
ENV_SECRET = "envpw-" + secrets.token_hex(12)
SECRETS = (RIGHT, WRONG, ENV_SECRET)


class RecordingRunner(LocalRunner):
    """LocalRunner that keeps every command, stdin script, env and result."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    async def run(self, command: str, *, timeout: float, env: Mapping[str, str] | None = None,
                  input: str | None = None) -> CommandResult:
        self.seen += [command, input or "", json.dumps(dict(env or {}))]
        res = await super().run(command, timeout=timeout, env=env, input=input)
        self.seen += [res.stdout, res.stderr]
        return res


def assert_no_secret(where: str, *texts: Any) -> None:
    for t in texts:
        s = t if isinstance(t, str) else repr(t)
        for secret in SECRETS:
            assert secret not in s, f"secret leaked into {where}: ...{s[max(0, s.find(secret) - 80):s.find(secret) + 40]}..."


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, Any]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.txt").write_text("payload\n")
    right, wrong = tmp_path / "right.pw", tmp_path / "wrong.pw"
    right.write_text(RIGHT + "\n")
    wrong.write_text(WRONG + "\n")
    (tmp_path / "tmp").mkdir()
    env = {"RESTIC_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(tmp_path / "tmp")}
    run_env = {**os.environ, **env, "RESTIC_REPOSITORY": str(tmp_path / "repo"), "RESTIC_PASSWORD_FILE": str(right)}
    for cmd in (["restic", "init"], ["restic", "backup", "src"]):
        subprocess.run(cmd, cwd=tmp_path, env=run_env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return {"tmp": tmp_path, "repo": tmp_path / "repo", "right": right, "wrong": wrong, "env": env}


def _config(repo: dict[str, Any]) -> str:
    env = ", ".join(f'{k} = "{v}"' for k, v in repo["env"].items())
    return f"""
[[hosts]]
name = "localhost"
probes = ["local", "backups"]

[[hosts.backups]]
name = "right"
kind = "restic"
repository = "{repo['repo']}"
password_file = "{repo['right']}"
env = {{ {env} }}
restore_test = {{ sample = "src/data.txt" }}
check = {{ subset = "100%" }}

[[hosts.backups]]
name = "wrong"
kind = "restic"
repository = "{repo['repo']}"
password_file = "{repo['wrong']}"
env = {{ {env} }}
restore_test = {{ sample = "src/data.txt" }}

[[hosts.backups]]
name = "in-env"
kind = "restic"
repository = "{repo['repo']}"
env = {{ {env}, RESTIC_PASSWORD = "{ENV_SECRET}" }}
restore_test = {{ sample = "src/data.txt" }}
"""


@needs_restic
@pytest.mark.integration
async def test_restic_passwords_never_leave_their_file(repo: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = parse_config(_config(repo), "secrets.toml")
    assert_no_secret("repr(config)", config, *config.hosts)  # env values are kept out of repr
    store_path = repo["tmp"] / "s.sqlite"
    store = Store(store_path)
    collector = Collector(config, store)
    runner = RecordingRunner()
    collector.runner = lambda host: runner  # type: ignore[method-assign]
    try:
        for job in collector.build_jobs(probes={"backups"}):
            if job.kind != "restore":
                continue
            try:
                await job.fn()
            except ProbeError as e:
                assert_no_secret(f"ProbeError of {job.name}", str(e), repr(e))
        hs = collector.hosts["localhost"]
        assert hs.row("backup", "right").status.restore_test.ok, hs.row("backup", "right").status.restore_test
        assert hs.row("backup", "right").status.error is None
        assert "wrong password" in (hs.row("backup", "wrong").status.error or ""), hs.row("backup", "wrong").status
        assert "wrong password" in (hs.row("backup", "in-env").status.error or ""), hs.row("backup", "in-env").status
        for b in config.hosts[0].backups:
            chk = await run_check(runner, b, timeout=120)
            assert_no_secret(f"check of {b.name}", chk)
            direct = await probe_backup(runner, b, now=time.time(), run_restore=True, timeout=120)
            assert_no_secret(f"status of {b.name}", direct, json.dumps(direct.to_json()))
        await collector.flush()
        snap = build(collector, [], None)
        assert_no_secret("once JSON", json.dumps(snap, indent=2))
        assert_no_secret("once text", render_text(snap))
        assert_no_secret("host status", hs)
    finally:
        await collector.close()
        store.close()
    # the commands: none holds a secret from a file; the env password travels only on stdin,
    # inside the script (never on a command line, never in the environment of the ssh/sh process)
    for i, text in enumerate(runner.seen):
        if ENV_SECRET in text:
            assert i % 5 == 1, "RESTIC_PASSWORD from env appeared outside the stdin script"
        for secret in (RIGHT, WRONG):
            assert secret not in text, f"password file content in a command or its output: {text[:200]!r}"
    assert_no_secret("log records", caplog.text, *(r.getMessage() for r in caplog.records))
    # every byte of the store (all tables, WAL folded in)
    with sqlite3.connect(store_path) as db:
        dump = "\n".join(db.iterdump())
    assert "right" in dump  # the backup rows are there
    assert_no_secret("the SQLite store", dump)
    for f in repo["tmp"].glob("s.sqlite*"):
        data = f.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"secret in {f.name}"
    assert list((repo["tmp"] / "tmp").iterdir()) == [], "restore temp dir left behind"


# --- [[sources]]: bearer tokens and basic auth ------------------------------------------


TOKEN = "tok-" + secrets.token_hex(12)
BASIC = "basic-" + secrets.token_hex(12)
URLPW = "urlpw-" + secrets.token_hex(12)


@pytest.fixture
def source_config(tmp_path: Path) -> Any:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "pw").write_text(BASIC + "\n")
    text = f"""
[[sources]]
kind = "prometheus"
name = "prom"
url = "http://127.0.0.1:9/"
bearer_token_file = "{tmp_path / 'token'}"

[[sources]]
kind = "alertmanager"
name = "am"
url = "http://ops:{URLPW}@127.0.0.1:9/"
username = "ops"
password_file = "{tmp_path / 'pw'}"
"""
    (tmp_path / "c.toml").write_text(text)
    return parse_config(text, "c.toml"), tmp_path / "c.toml"


def test_source_secrets_not_in_config_objects(source_config: Any) -> None:
    config, _ = source_config
    for obj in (config, *config.sources):
        for text in (repr(obj), str(obj)):
            assert TOKEN not in text and BASIC not in text


async def test_source_secrets_not_in_transport_errors(source_config: Any) -> None:
    from opsdash.collect import prom

    config, _ = source_config
    for cfg in config.sources:
        client = prom.http_client(cfg)
        async with client:
            with pytest.raises(ProbeError) as ei:
                await prom.query(client, cfg, "up")
        msg = str(ei.value)
        assert "127.0.0.1" in msg
        for secret in (TOKEN, BASIC, URLPW):
            assert secret not in msg, msg


def test_check_config_does_not_print_url_passwords(source_config: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from opsdash.cli import main

    _, path = source_config
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr()
    for secret in (TOKEN, BASIC, URLPW):
        assert secret not in out.out + out.err


# --- opsdash.security: secrets readable by others -------------------------------------------


def _write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_world_readable_config_naming_secret_files_warns(tmp_path: Path) -> None:
    from opsdash.config import load_config
    from opsdash.security import warn_world_readable_secrets

    token = _write(tmp_path / "token", "t\n", 0o600)
    cfg = _write(tmp_path / "c.toml", f'[[sources]]\nkind = "prometheus"\nname = "p"\nurl = "http://x/"\n'
                                      f'bearer_token_file = "{token}"\n', 0o644)
    lines = warn_world_readable_secrets(load_config(cfg))
    assert len(lines) == 1 and "c.toml" in lines[0] and "0644" in lines[0] and "sources[0].bearer_token_file" in lines[0]
    cfg.chmod(0o600)
    assert warn_world_readable_secrets(load_config(cfg)) == []
    token.chmod(0o640)  # the secret file itself, readable by the group
    lines = warn_world_readable_secrets(load_config(cfg))
    assert len(lines) == 1 and str(token) in lines[0] and "0640" in lines[0]


def test_world_readable_config_with_inline_secrets_warns(tmp_path: Path) -> None:
    from opsdash.config import load_config
    from opsdash.security import warn_world_readable_secrets

    cfg = _write(tmp_path / "c.toml", (
        '[[hosts]]\nname = "h"\nprobes = ["backups"]\n[[hosts.backups]]\nname = "b"\nkind = "restic"\n'
        'repository = "/r"\npassword_file = "/remote/only/pw"\nenv = { RESTIC_PASSWORD = "x", OTHER = "y" }\n\n'
        '[[endpoints]]\nname = "e"\nurl = "https://u:p@x.test/"\nheaders = { Authorization = "Bearer z" }\n'), 0o604)
    (line,) = warn_world_readable_secrets(load_config(cfg))
    for key in ("hosts[0].backups[0].password_file", "hosts[0].backups[0].env.RESTIC_PASSWORD",
                "endpoints[0].url", "endpoints[0].headers.Authorization"):
        assert key in line
    assert "OTHER" not in line and "Bearer z" not in line  # names the keys, never the values


def test_config_without_secrets_or_path_gives_no_warning(tmp_path: Path) -> None:
    from opsdash.config import load_config
    from opsdash.security import warn_world_readable_secrets

    cfg = _write(tmp_path / "c.toml", '[[hosts]]\nname = "h"\nprobes = ["local"]\n', 0o644)
    assert warn_world_readable_secrets(load_config(cfg)) == []
    assert warn_world_readable_secrets(parse_config('[[sources]]\nkind = "prometheus"\nname = "p"\n'
                                                    'url = "http://x/"\nbearer_token_file = "/nope"\n')) == []
