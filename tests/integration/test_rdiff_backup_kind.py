"""The rdiff-backup kind against a real repository (the installed rdiff-backup),
probed through LocalRunner: freshness, a restore test that passes on a healthy
mirror and fails once a mirror file is damaged (rdiff-backup's restore itself
does not notice), a sample the backup does not hold, and the config keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from opsdash.kinds.backups._host import probe_backup, run_check
from opsdash.collect.runner import LocalRunner
from opsdash.config import BackupConfig, CheckConfig, RestoreTestConfig, parse_config
from opsdash.errors import ConfigError

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("rdiff-backup") is None, reason="rdiff-backup not installed")]

ODD_NAME = "it's a $file; rm -rf x.txt"


class Repo:
    def __init__(self, tmp: Path):
        self.path = tmp / "repo"
        self.tmpdir = tmp / "probe-tmp"  # TMPDIR on the "host": mktemp -d lands here
        self.tmpdir.mkdir()

    def cfg(self, sample: str, repository: Path | None = None) -> BackupConfig:
        return BackupConfig(name="rdiff-job", kind="rdiff-backup", repository=str(repository or self.path),
                            restore_test=RestoreTestConfig(sample=sample, timeout=60), check=CheckConfig(),
                            env={"TMPDIR": str(self.tmpdir)})


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "data.bin").write_bytes(os.urandom(300_000))
    (src / ODD_NAME).write_text("quoted content\n")
    (src / "sub" / "a.txt").write_text("a\n")
    subprocess.run(["rdiff-backup", "backup", str(src), str(tmp_path / "repo")], check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=60)
    return Repo(tmp_path)


async def _probe(cfg: BackupConfig, run_restore: bool = True):
    return await probe_backup(LocalRunner(), cfg, now=time.time(), run_restore=run_restore, timeout=60)


async def test_rdiff_backup_freshness_and_restore_of_a_file_pass(repo: Repo) -> None:
    st = await _probe(repo.cfg("data.bin"))
    assert st.error is None and st.kind == "rdiff-backup"
    assert st.snapshots == 1 and 0 <= st.age_s < 120 and st.size_bytes >= 300_000
    rt = st.restore_test
    assert rt.ok, rt.detail
    assert rt.checksum_verified and rt.bytes == 300_000
    assert "rdiff-backup verify passed" in rt.detail and "matches the mirror file" in rt.detail
    assert list(repo.tmpdir.iterdir()) == [], "restore temp dir was not removed"


async def test_rdiff_backup_restores_a_name_that_needs_quoting_and_a_directory(repo: Repo) -> None:
    st = await _probe(repo.cfg(ODD_NAME))
    assert st.restore_test.ok and st.restore_test.bytes == len("quoted content\n"), st.restore_test.detail
    st = await _probe(repo.cfg("sub"))
    assert st.restore_test.ok and "(directory)" in st.restore_test.detail, st.restore_test.detail


async def test_rdiff_backup_damaged_mirror_fails_the_restore_test_and_the_check(repo: Repo) -> None:
    victim = repo.path / "data.bin"
    raw = bytearray(victim.read_bytes())
    raw[1000] ^= 0xFF
    victim.write_bytes(bytes(raw))
    st = await _probe(repo.cfg("data.bin"))
    assert st.error is None and st.snapshots == 1  # freshness stands; the data does not
    assert not st.restore_test.ok
    assert "does not match the recorded digest" in st.restore_test.detail, st.restore_test.detail
    check = await run_check(LocalRunner(), repo.cfg("data.bin"), 60)
    assert not check.ok and not check.data_verified and "SHA1 of data.bin" in check.detail


async def test_rdiff_backup_check_of_a_healthy_repository_reads_every_file(repo: Repo) -> None:
    check = await run_check(LocalRunner(), repo.cfg("data.bin"), 60)
    assert check.ok and check.data_verified, check.detail


async def test_rdiff_backup_sample_not_in_the_backup_fails_the_restore_test(repo: Repo) -> None:
    st = await _probe(repo.cfg("no/such/file"))
    assert not st.restore_test.ok
    assert st.restore_test.detail == "no/such/file is not in the backup: path not in the backup"


async def test_rdiff_backup_not_a_repository_is_an_error(repo: Repo, tmp_path: Path) -> None:
    st = await _probe(repo.cfg("data.bin", repository=tmp_path / "src"))
    assert st.last_backup is None
    assert st.error == "rdiff-backup: not an rdiff-backup repository (or not reachable)"
    assert not st.restore_test.ok and st.restore_test.detail.startswith("not run: rdiff-backup:")


def test_rdiff_backup_config_requires_a_repository_and_a_sample() -> None:
    text = '[[hosts]]\nname = "a"\n[[hosts.backups]]\nname = "b"\nkind = "rdiff-backup"\n[hosts.backups.restore_test]\n'
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    msg = str(e.value)
    assert "hosts[0].backups[0].repository: is required for kind rdiff-backup" in msg
    assert "hosts[0].backups[0].restore_test.sample: is required" in msg
    cfg = parse_config(text.replace('kind = "rdiff-backup"\n', 'kind = "rdiff-backup"\nrepository = "/srv/rdiff"\n')
                       + 'sample = "etc/hosts"\n')
    (b,) = cfg.hosts[0].backups
    assert b.kind == "rdiff-backup" and b.repository == "/srv/rdiff" and b.restore_test.sample == "etc/hosts"
