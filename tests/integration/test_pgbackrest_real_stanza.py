"""A real pgBackRest stanza: a throwaway PostgreSQL cluster (initdb/pg_ctl on a
loopback port), a local repository, one full backup; opsdash's pgbackrest kind
must read it, and its verify must pass on it and fail once a backup file is
damaged (pgBackRest 2.45's verify exits 0 there: the parser must read its log).

PostgreSQL refuses to run as root, so as root the cluster and the backup run as
``nobody`` (runuser); the probe itself runs as the test's user, like a
monitoring account that can read the repository. One cluster for the module.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from opsdash.kinds.backups._host import probe_backup, run_check
from opsdash.collect.runner import LocalRunner
from opsdash.config import BackupConfig, RestoreTestConfig
from tests.support.servers import free_port

PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), "")
_MISSING = [b for b in ("pgbackrest",) if shutil.which(b) is None] + (
    [] if PG_BIN and os.path.exists(f"{PG_BIN}/initdb") else ["initdb/pg_ctl"])
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {', '.join(_MISSING)}")]

STANZA = "demo"


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(_as_pg(cmd), check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60, **kw)


class Stanza:
    def __init__(self, base: Path):
        self.base = base
        self.conf = base / "pgbackrest.conf"
        self.repo = base / "repo"
        self.data = base / "data"

    def cfg(self, repository: Path | None = None, stanza: str = STANZA) -> BackupConfig:
        return BackupConfig(name="pg", kind="pgbackrest", stanza=stanza, repository=str(repository or self.repo),
                            restore_test=RestoreTestConfig(timeout=60),
                            env={"PGBACKREST_CONFIG": str(self.conf), "PGBACKREST_LOG_LEVEL_FILE": "off"})


@pytest.fixture(scope="module")
def stanza():
    # Not tmp_path: pytest's base directory is 0700 root, and postgres runs as nobody.
    base = Path(tempfile.mkdtemp(prefix="opsdash-pg-"))
    base.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "nobody")
    st, port, started = Stanza(base), free_port(), False
    try:
        _run([f"{PG_BIN}/initdb", "-D", str(st.data), "-U", "postgres", "--auth=trust", "-N"])
        with open(st.data / "postgresql.conf", "a") as f:
            f.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
                    f"archive_mode = on\nwal_level = replica\nfsync = off\n"
                    f"archive_command = 'pgbackrest --config={st.conf} --stanza={STANZA} archive-push %p'\n")
        st.conf.write_text(
            f"[global]\nrepo1-path={st.repo}\nrepo1-retention-full=2\nlock-path={base}/lock\n"
            f"log-path={base}/log\nlog-level-file=off\nspool-path={base}/spool\nstart-fast=y\n"
            f"[{STANZA}]\npg1-path={st.data}\npg1-port={port}\npg1-socket-path={base}\npg1-user=postgres\n")
        st.conf.chmod(0o644)
        _run([f"{PG_BIN}/pg_ctl", "-D", str(st.data), "-l", str(base / "pg.log"), "-w", "-t", "30", "start"])
        started = True
        pgb = ["pgbackrest", f"--config={st.conf}", f"--stanza={STANZA}", "--log-level-console=warn"]
        _run([*pgb, "stanza-create"])
        _run([*pgb, "--type=full", "backup"])
        yield st
    finally:
        if started:
            subprocess.run(_as_pg([f"{PG_BIN}/pg_ctl", "-D", str(st.data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


async def test_pgbackrest_kind_reads_the_real_backup_and_verify_passes(stanza: Stanza) -> None:
    st = await probe_backup(LocalRunner(), stanza.cfg(), now=time.time(), run_restore=True, timeout=60)
    assert st.error is None, st.error
    assert st.kind == "pgbackrest" and st.snapshots == 1
    assert 0 <= st.age_s < 300 and st.size_bytes > 1_000_000  # a compressed empty cluster is ~3 MB
    rt = st.restore_test
    assert rt is not None and rt.ok, rt.detail
    assert rt.checksum_verified and "pgbackrest verify" in rt.detail and "completed successfully" in rt.detail

    check = await run_check(LocalRunner(), stanza.cfg(), 60)
    assert check.ok and check.data_verified, check.detail


async def test_pgbackrest_verify_fails_on_a_damaged_backup_file(stanza: Stanza) -> None:
    damaged = stanza.base / "repo-damaged"
    shutil.copytree(stanza.repo, damaged, symlinks=True)
    victim = max((p for p in damaged.glob("backup/*/*/pg_data/base/*/*") if p.is_file()), key=lambda p: p.stat().st_size)
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))

    st = await probe_backup(LocalRunner(), stanza.cfg(damaged), now=time.time(), run_restore=True, timeout=60)
    assert st.error is None and st.snapshots == 1  # the freshness figures stand; the data does not
    rt = st.restore_test
    assert rt is not None and not rt.ok and not rt.checksum_verified
    assert "invalid checksum" in rt.detail and victim.name in rt.detail, rt.detail

    check = await run_check(LocalRunner(), stanza.cfg(damaged), 60)
    assert not check.ok and not check.data_verified and "invalid checksum" in check.detail


async def test_pgbackrest_missing_stanza_is_an_error_and_no_restore_test(stanza: Stanza) -> None:
    st = await probe_backup(LocalRunner(), stanza.cfg(stanza="nope"), now=time.time(), run_restore=False, timeout=60)
    assert st.last_backup is None and st.restore_test is None
    assert st.error == "pgbackrest stanza nope: missing stanza path (code 1)"
