"""Real restic and borg repositories in tmp_path, probed through LocalRunner.

Restore tests must pass on a healthy repository and fail, with a reason, once
a pack file / segment is damaged; a wrong password must give a clear error
that never contains the password.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from opsdash.kinds.backups._host import probe_backup, run_check
from opsdash.collect.runner import LocalRunner
from opsdash.config import BackupConfig, CheckConfig, RestoreTestConfig

pytestmark = pytest.mark.integration

needs_restic = pytest.mark.skipif(shutil.which("restic") is None, reason="restic binary not installed")
needs_borg = pytest.mark.skipif(shutil.which("borg") is None, reason="borg binary not installed")

PASSWORD = "correct-horse-battery-staple-7431"
WRONG = "wrong-password-should-not-leak-9921"
# A name that needs quoting: space, quote, dollar, semicolon.
ODD_NAME = "it's a $file; rm -rf x.txt"


class Repo:
    def __init__(self, tmp: Path, kind: str):
        self.tmp = tmp
        self.kind = kind
        self.path = tmp / f"repo-{kind}"
        self.src = tmp / "src"
        self.pass_file = tmp / "pass"
        self.tmpdir = tmp / "probe-tmp"  # TMPDIR on the "host": mktemp -d lands here
        self.tmpdir.mkdir()
        self.env = {"TMPDIR": str(self.tmpdir)}
        if kind == "restic":
            self.env["RESTIC_CACHE_DIR"] = str(tmp / "restic-cache")
        else:
            self.env["BORG_BASE_DIR"] = str(tmp / "borg-base")

    def cfg(self, sample: str, password_file: Path | None = None, timeout: float = 120.0) -> BackupConfig:
        return BackupConfig(
            name=f"{self.kind}-job",
            kind=self.kind,
            repository=str(self.path),
            password_file=str(password_file or self.pass_file),
            restore_test=RestoreTestConfig(sample=sample, timeout=timeout),
            check=CheckConfig(subset="100%"),
            env=dict(self.env),
        )

    def largest_data_file(self) -> Path:
        files = [p for p in (self.path / "data").rglob("*") if p.is_file()]
        return max(files, key=lambda p: p.stat().st_size)


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(cmd, cwd=cwd, env={**os.environ, **env}, check=True, capture_output=True, stdin=subprocess.DEVNULL)


def _make_source(tmp: Path) -> bytes:
    src = tmp / "src"
    src.mkdir()
    data = os.urandom(300_000)  # random: no dedup/compression shortcuts
    (src / "data.bin").write_bytes(data)
    (src / ODD_NAME).write_text("quoted content\n")
    (src / "sub").mkdir()
    (src / "sub" / "a.txt").write_text("a\n")
    return data


@pytest.fixture
def restic_repo(tmp_path):
    repo = Repo(tmp_path, "restic")
    _make_source(tmp_path)
    repo.pass_file.write_text(PASSWORD + "\n")
    env = {**repo.env, "RESTIC_REPOSITORY": str(repo.path), "RESTIC_PASSWORD_FILE": str(repo.pass_file)}
    _run(["restic", "init"], tmp_path, env)
    _run(["restic", "backup", "src"], tmp_path, env)  # relative: the snapshot lists /src/...
    return repo


@pytest.fixture
def borg_repo(tmp_path):
    repo = Repo(tmp_path, "borg")
    _make_source(tmp_path)
    repo.pass_file.write_text(PASSWORD + "\n")
    env = {**repo.env, "BORG_PASSCOMMAND": f"cat {repo.pass_file}"}
    _run(["borg", "init", "-e", "repokey", str(repo.path)], tmp_path, env)
    _run(["borg", "create", f"{repo.path}::first", "src"], tmp_path, env)
    return repo


async def _probe(cfg: BackupConfig, run_restore: bool = True):
    return await probe_backup(LocalRunner(), cfg, now=time.time(), run_restore=run_restore, timeout=60)


def _assert_clean(repo: Repo) -> None:
    assert list(repo.tmpdir.iterdir()) == [], "restore temp dir was not removed"


# --- restic -------------------------------------------------------------------------


@needs_restic
async def test_restic_freshness_and_restore_ok(restic_repo):
    st = await _probe(restic_repo.cfg("src/data.bin"))
    assert st.error is None
    assert st.snapshots == 1 and 0 <= st.age_s < 120 and st.size_bytes > 300_000
    rt = st.restore_test
    assert rt.ok, rt.detail
    assert rt.checksum_verified and rt.bytes == 300_000 and rt.duration_s > 0
    assert hashlib.sha256((restic_repo.src / "data.bin").read_bytes()).hexdigest()[:16] in rt.detail
    _assert_clean(restic_repo)


@needs_restic
async def test_restic_leading_slash_and_odd_name(restic_repo):
    st = await _probe(restic_repo.cfg("/src/" + ODD_NAME))
    assert st.restore_test.ok, st.restore_test.detail
    assert st.restore_test.bytes == len("quoted content\n")
    _assert_clean(restic_repo)


@needs_restic
async def test_restic_freshness_only_does_not_restore(restic_repo):
    st = await _probe(restic_repo.cfg("src/data.bin"), run_restore=False)
    assert st.restore_test is None and st.snapshots == 1


@needs_restic
async def test_restic_missing_sample_fails(restic_repo):
    rt = (await _probe(restic_repo.cfg("src/nope.bin"))).restore_test
    assert not rt.ok and rt.detail.startswith("/src/nope.bin is not in snapshot ")


@needs_restic
# "remove" behaves like "truncate" (a backend read error) and costs another ~45 s of
# restic 0.14's built-in retries, so it is not repeated here; borg covers removal.
@pytest.mark.parametrize("damage", ["truncate", "flip"])
@pytest.mark.waits  # mostly waiting: started first (tests/conftest.py)
async def test_restic_damaged_pack_fails_restore(restic_repo, damage):
    pack = restic_repo.largest_data_file()  # holds the 300 kB random file
    if damage == "truncate":
        os.truncate(pack, pack.stat().st_size // 2)
        expect = "unexpected EOF"
    else:
        raw = bytearray(pack.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        pack.chmod(0o600)
        pack.write_bytes(bytes(raw))
        expect = "ciphertext verification failed"
    st = await _probe(restic_repo.cfg("src/data.bin"))
    assert st.error is None  # snapshots are still listed; the data is what broke
    rt = st.restore_test
    assert not rt.ok and not rt.checksum_verified
    assert rt.detail.startswith("restore of /src/data.bin from snapshot ") and expect in rt.detail
    _assert_clean(restic_repo)


@needs_restic
async def test_restic_check_finds_damaged_pack(restic_repo):
    # A flipped byte: restic fails fast. (A missing pack makes restic 0.14 retry for ~30 s.)
    pack = restic_repo.largest_data_file()
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pack.chmod(0o600)
    pack.write_bytes(bytes(raw))
    check = await run_check(LocalRunner(), restic_repo.cfg("src/data.bin"), 120)
    assert not check.ok and not check.data_verified
    assert "repository contains errors" in check.detail


@needs_restic
async def test_restic_check_healthy_reads_data(restic_repo):
    check = await run_check(LocalRunner(), restic_repo.cfg("src/data.bin"), 120)
    assert check.ok and check.data_verified and check.detail == "no errors were found"


@needs_restic
async def test_restic_wrong_password_is_clear_and_secret_free(restic_repo):
    wrong = restic_repo.tmp / "wrong"
    wrong.write_text(WRONG + "\n")
    st = await _probe(restic_repo.cfg("src/data.bin", password_file=wrong))
    assert st.error == "restic: wrong password or no key found (check password_file)"
    assert not st.restore_test.ok and "wrong password" in st.restore_test.detail
    for secret in (WRONG, PASSWORD):
        assert secret not in repr(st)


@needs_restic
async def test_restic_restore_timeout_is_a_failed_test(restic_repo):
    rt = (await _probe(restic_repo.cfg("src/data.bin", timeout=0.05))).restore_test
    assert not rt.ok and rt.detail == "restore did not finish within 0.05s"


# --- borg ---------------------------------------------------------------------------


@needs_borg
async def test_borg_freshness_and_restore_ok(borg_repo):
    st = await _probe(borg_repo.cfg("src/data.bin"))
    assert st.error is None
    assert st.snapshots == 1 and 0 <= st.age_s < 120 and st.size_bytes > 300_000
    rt = st.restore_test
    assert rt.ok, rt.detail
    assert rt.checksum_verified and rt.bytes == 300_000
    assert hashlib.sha256((borg_repo.src / "data.bin").read_bytes()).hexdigest()[:16] in rt.detail
    _assert_clean(borg_repo)


@needs_borg
async def test_borg_leading_slash_and_odd_name(borg_repo):
    st = await _probe(borg_repo.cfg("/src/" + ODD_NAME))
    assert st.restore_test.ok, st.restore_test.detail
    _assert_clean(borg_repo)


@needs_borg
async def test_borg_missing_sample_fails(borg_repo):
    rt = (await _probe(borg_repo.cfg("src/nope.bin"))).restore_test
    assert not rt.ok and rt.detail == "src/nope.bin is not in archive first"


@needs_borg
@pytest.mark.parametrize("damage", ["truncate", "flip", "remove"])
async def test_borg_damaged_segment_fails_restore(borg_repo, damage):
    seg = borg_repo.largest_data_file()
    seg.chmod(0o600)
    if damage == "truncate":
        os.truncate(seg, seg.stat().st_size // 2)
    elif damage == "remove":
        seg.unlink()
    else:
        raw = bytearray(seg.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        seg.write_bytes(bytes(raw))
    st = await _probe(borg_repo.cfg("src/data.bin"))
    rt = st.restore_test
    assert not rt.ok and not rt.checksum_verified
    # One segment holds chunks and metadata here, so borg may fail at list or at extract.
    assert "Data integrity error" in rt.detail or "No such file or directory" in rt.detail, rt.detail
    _assert_clean(borg_repo)
    check = await run_check(LocalRunner(), borg_repo.cfg("src/data.bin"), 120)
    assert not check.ok
    assert "errors found" in check.detail or "Data integrity error" in check.detail, check.detail


@needs_borg
async def test_borg_check_healthy(borg_repo):
    check = await run_check(LocalRunner(), borg_repo.cfg("src/data.bin"), 120)
    assert check.ok and check.detail == "no problems found"


@needs_borg
async def test_borg_wrong_password_is_clear_and_secret_free(borg_repo):
    wrong = borg_repo.tmp / "wrong"
    wrong.write_text(WRONG + "\n")
    st = await _probe(borg_repo.cfg("src/data.bin", password_file=wrong))
    assert st.error == "borg: wrong passphrase (check password_file)"
    assert not st.restore_test.ok and "wrong passphrase" in st.restore_test.detail
    for secret in (WRONG, PASSWORD):
        assert secret not in repr(st)


@needs_borg
async def test_borg_moved_repository_is_not_silently_accepted(borg_repo, tmp_path):
    moved = tmp_path / "moved-repo"
    borg_repo.path.rename(moved)
    borg_repo.path = moved
    st = await _probe(borg_repo.cfg("src/data.bin"))
    assert st.error.startswith("borg: repository moved since last access")


@needs_restic
async def test_restic_sample_outside_snapshot_is_a_failed_test(restic_repo):
    st = await _probe(restic_repo.cfg("../etc/passwd"))
    assert st.snapshots == 1  # freshness kept
    assert not st.restore_test.ok and "must be a path inside the snapshot" in st.restore_test.detail
