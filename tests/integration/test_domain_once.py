"""Issue 4 end to end, over SSH: a host on the test sshd with real restic and borg
repositories, real redis and memcached, and apt; `opsdash once --run-restore-tests`
fills the patches, backups and caches sections, the panes' rows show them, and a
damaged repository makes its restore test fail with a reason."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from opsdash.cli import main
from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from opsdash.store import Store
from opsdash.ui.data import build_view, load_snapshot
from tests.support.servers import Redis, free_port, need, start_memcached, stop
from tests.support.sshd import Sshd

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(cmd, cwd=cwd, env={**os.environ, **env}, check=True, capture_output=True, stdin=subprocess.DEVNULL)


@pytest.fixture
def fleet(tmp_path: Path, sshd: Sshd):
    need("restic", "borg", "redis-server", "redis-cli", "memcached")
    src = tmp_path / "src"
    src.mkdir()
    (src / "hostname").write_text("store-1\n")
    (src / "data.bin").write_bytes(os.urandom(200_000))
    pw = tmp_path / "backup.pass"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    restic_repo, borg_repo = tmp_path / "restic", tmp_path / "borg"
    _run(["restic", "init"], tmp_path, {"RESTIC_REPOSITORY": str(restic_repo), "RESTIC_PASSWORD_FILE": str(pw)})
    _run(["restic", "backup", "src"], tmp_path, {"RESTIC_REPOSITORY": str(restic_repo), "RESTIC_PASSWORD_FILE": str(pw)})
    _run(["borg", "init", "-e", "repokey", str(borg_repo)], tmp_path, {"BORG_PASSCOMMAND": f"cat {pw}"})
    _run(["borg", "create", f"{borg_repo}::first", "src"], tmp_path, {"BORG_PASSCOMMAND": f"cat {pw}"})

    redis = Redis(tmp_path, free_port())
    redis.start()
    redis.hits_and_misses(hits=30, misses=10)
    mc_port, mc_proc = start_memcached(tmp_path)

    cfg = (
        '[defaults]\ntimeout = "20s"\n'
        + sshd.host_toml("store-1", probes=["health", "patches"])
        + f"""
  [[hosts.caches]]
  name = "sessions"
  kind = "redis"
  address = "127.0.0.1:{redis.port}"

  [[hosts.caches]]
  name = "fragments"
  kind = "memcached"
  address = "127.0.0.1:{mc_port}"

  [[hosts.backups]]
  name = "etc-restic"
  kind = "restic"
  repository = "{restic_repo}"
  password_file = "{pw}"
  restore_test = {{ every = "24h", sample = "/src/hostname" }}

  [[hosts.backups]]
  name = "etc-borg"
  kind = "borg"
  repository = "{borg_repo}"
  password_file = "{pw}"
  restore_test = {{ every = "24h", sample = "src/hostname" }}
"""
    )
    path = tmp_path / "config.toml"
    path.write_text(cfg)
    yield {"config": path, "restic": restic_repo, "borg": borg_repo, "redis": redis}
    redis.stop()
    stop(mc_proc)


def once(config: Path) -> dict:
    """`opsdash once` through the CLI's entry point in this process (what it writes to
    sys.stdout and sys.stderr captured): the same output without a Python start-up."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(["once", "--format", "json", "--run-restore-tests", "--config", str(config)])
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return json.loads(out.getvalue())


def test_once_fills_patches_backups_and_caches_over_ssh(fleet) -> None:
    snap = once(fleet["config"])
    host = snap["hosts"][0]
    assert host["state"] == "ok", host["error"]
    p = host["patches"]
    assert p["manager"] == "apt" and isinstance(p["pending"], int) and p["security"] <= p["pending"]
    assert len(p["packages"]) == p["pending"]
    caches = {c["name"]: c for c in host["caches"]}
    assert caches["sessions"]["kind"] == "redis"
    # 30 hits, 10 misses (the test's own SET is neither): exact, from lifetime counters, no window yet.
    assert (caches["sessions"]["hits"], caches["sessions"]["misses"]) == (30, 10)
    assert caches["sessions"]["hit_rate"] == pytest.approx(0.75)
    assert caches["sessions"]["window_s"] is None
    # memcached that served no gets yet: zero counters, no rate (never a made-up 0% or 100%).
    assert caches["fragments"]["kind"] == "memcached"
    assert (caches["fragments"]["hits"], caches["fragments"]["misses"], caches["fragments"]["hit_rate"]) == (0, 0, None)
    backups = {b["name"]: b for b in host["backups"]}
    for name in ("etc-restic", "etc-borg"):
        b = backups[name]
        assert b["snapshots"] == 1 and b["age_s"] is not None and b["age_s"] < 600, b
        rt = b["restore_test"]
        assert rt["ok"] is True and rt["checksum_verified"] is True, rt
        assert PASSWORD not in json.dumps(b)


def test_damaged_repositories_fail_their_restore_tests_with_a_reason(fleet) -> None:
    # A flipped byte in every data file: whatever chunk holds the sample is damaged.
    # (A restore test checks its sample; damage elsewhere is `check`'s job.)
    damaged = [p for p in (fleet["restic"] / "data").rglob("*") if p.is_file()]
    damaged += [p for p in (fleet["borg"] / "data").rglob("*") if p.is_file() and p.name.isdigit()]
    for p in damaged:
        data = bytearray(p.read_bytes())
        for i in range(64, len(data), 97):
            data[i] ^= 0xFF
        p.write_bytes(bytes(data))
    snap = once(fleet["config"])
    backups = {b["name"]: b for b in snap["hosts"][0]["backups"]}
    for name in ("etc-restic", "etc-borg"):
        rt = backups[name]["restore_test"]
        assert rt is not None and rt["ok"] is False, backups[name]
        assert rt["detail"], "a failed restore test says why"
    assert snap["status"] in ("unknown", "warning", "critical")


def test_the_panes_show_what_the_probes_found(fleet, tmp_path: Path) -> None:
    cfg = parse_config(fleet["config"].read_text())
    store = Store(tmp_path / "store.sqlite")
    c = Collector(cfg, store)
    asyncio.run(c.snapshot_once(restore_tests=True))
    view = build_view(load_snapshot(store, time.time()))
    store.close()
    rows = view.rows
    texts = {pane: " ".join(cell[0] for row in rs for cell in row.cells) for pane, rs in rows.items()}
    assert "store-1" in texts["patches"]
    assert "sessions" in texts["cache"] and "75%" in texts["cache"]
    assert "etc-restic" in texts["backups"] and "etc-borg" in texts["backups"]
    assert "ok" in texts["backups"]
