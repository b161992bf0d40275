"""Real database servers for tests: a PostgreSQL cluster and a MariaDB server, each
in a temp directory, on a loopback port and a socket in that directory, stopped by PID.

PostgreSQL refuses to run as root, and mariadbd as root needs ``--user=root``: as
root both run as ``nobody`` (runuser); the clients (psql, mariadb) run as the test's
user, as a monitoring account would. Nothing is installed: ``missing()`` names the
binaries that are absent so a test can skip with that reason.

    with postgres(preload="pg_stat_statements") as pg:
        pg.sql("SELECT 1")
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .servers import free_port

__all__ = ["MariaDB", "Postgres", "mariadb", "missing_mariadb", "missing_postgres", "postgres"]

PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), "")
RUN_AS = "nobody"


def missing_postgres() -> list[str]:
    need = [f"{PG_BIN}/{b}" for b in ("initdb", "postgres", "psql")] if PG_BIN else []
    return [os.path.basename(b) for b in need if not os.path.exists(b)] if PG_BIN else ["postgresql (initdb, postgres)"]


def missing_mariadb() -> list[str]:
    return [b for b in ("mariadbd", "mariadb-install-db", "mariadb") if _which(b) is None]


def _which(b: str) -> str | None:
    return shutil.which(b) or shutil.which(b, path="/usr/sbin:/sbin")


def _as_server(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *cmd] if os.geteuid() == 0 else cmd


def _base(prefix: str) -> Path:
    # Not tmp_path: pytest's base directory is 0700 root, and the server runs as nobody.
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(base, RUN_AS)
    return base


def _stop(proc: subprocess.Popen, pid_file: Path, sig: int, wait: float = 20.0) -> None:
    """Signal the server by the PID it wrote (runuser, our child, does not pass every signal
    on), then wait for our child; SIGKILL to both past ``wait``."""
    if proc.poll() is not None:
        return
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = proc.pid
    try:
        os.kill(pid, sig)
        proc.wait(wait)
    except ProcessLookupError:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        for p in {pid, proc.pid}:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)


def _wait_ready(proc: subprocess.Popen, ready, log: Path, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s: {log.read_text(errors='replace')[-2000:]}")


class Postgres:
    """A running cluster: superuser ``postgres`` (trust auth), socket directory ``socket``."""

    def __init__(self, base: Path, port: int):
        self.base = base
        self.data = base / "data"
        self.port = port
        self.socket = str(base)
        self.log = base / "pg.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(_as_server([f"{PG_BIN}/postgres", "-D", str(self.data)]),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        _wait_ready(self.proc, lambda: self._try("SELECT 1") == "1", self.log, "postgres")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, self.data / "postmaster.pid", signal.SIGINT)  # fast shutdown

    def restart(self) -> None:
        self.stop()
        self.start()

    def psql_args(self, user: str = "postgres", db: str = "postgres") -> list[str]:
        return [f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.socket, "-p", str(self.port), "-U", user, "-d", db]

    def _try(self, sql: str) -> str | None:
        r = subprocess.run([*self.psql_args(), "-c", sql], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        return r.stdout.strip() if r.returncode == 0 else None

    def sql(self, sql: str, user: str = "postgres", db: str = "postgres") -> str:
        r = subprocess.run([*self.psql_args(user, db), "-c", sql], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {r.stderr.strip()}")
        return r.stdout.strip()


@contextmanager
def postgres(preload: str = "", conf: str = "", host_auth: str = "trust") -> Iterator[Postgres]:
    """A throwaway cluster; ``preload``: shared_preload_libraries (e.g. pg_stat_statements);
    ``host_auth``: how TCP connections authenticate (the socket is always trust)."""
    base = _base("opsdash-pgdb-")
    pg = Postgres(base, free_port())
    try:
        subprocess.run(_as_server([f"{PG_BIN}/initdb", "-D", str(pg.data), "-U", "postgres", "--auth-local=trust",
                                   f"--auth-host={host_auth}", "-N",
                                   "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        with open(pg.data / "postgresql.conf", "a") as f:
            f.write(f"port = {pg.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
                    "max_connections = 20\n")
            if preload:
                f.write(f"shared_preload_libraries = '{preload}'\n")
            f.write(conf)
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


class MariaDB:
    """A running server: ``root`` over the socket (unix_socket auth as root, or no password
    when the test runs unprivileged), ``socket`` file, TCP ``port`` on 127.0.0.1."""

    def __init__(self, base: Path, port: int):
        self.base = base
        self.data = base / "data"
        self.port = port
        self.socket = str(base / "mysqld.sock")
        self.log = base / "mariadb.log"
        self.proc: subprocess.Popen | None = None
        self.extra: list[str] = []

    def server_args(self) -> list[str]:
        return [_which("mariadbd") or "mariadbd", "--no-defaults", f"--datadir={self.data}",
                f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--pid-file={self.base}/mariadb.pid", f"--log-error={self.log}", "--skip-log-bin",
                "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=0", f"--tmpdir={self.base}", *self.extra]

    def start(self) -> None:
        self.proc = subprocess.Popen(_as_server(self.server_args()), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.log.touch(exist_ok=True)
        _wait_ready(self.proc, lambda: self._try("SELECT 1") == "1", self.log, "mariadbd")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, self.base / "mariadb.pid", signal.SIGTERM)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client_args(self, user: str = "root", password: str | None = None) -> list[str]:
        args = [_which("mariadb") or "mariadb", "--no-defaults", "-B", "-N", f"--socket={self.socket}", "-u", user]
        return [*args, f"--password={password}"] if password is not None else args

    def _try(self, sql: str) -> str | None:
        try:
            r = subprocess.run([*self.client_args(), "-e", sql], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    def sql(self, sql: str, user: str = "root", password: str | None = None) -> str:
        r = subprocess.run([*self.client_args(user, password), "-e", sql], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb {sql!r}: {r.stderr.strip()}")
        return r.stdout.strip()


@contextmanager
def mariadb(*extra: str) -> Iterator[MariaDB]:
    """A throwaway server; ``extra``: more mariadbd options (e.g. --performance-schema=ON)."""
    base = _base("opsdash-mariadb-")
    db = MariaDB(base, free_port())
    db.extra = list(extra)
    try:
        subprocess.run(_as_server([_which("mariadb-install-db") or "mariadb-install-db", "--no-defaults",
                                   f"--datadir={db.data}", "--auth-root-authentication-method=normal",
                                   "--skip-test-db", f"--user={RUN_AS}" if os.geteuid() == 0 else "--skip-name-resolve"]),
                       check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        db.start()
        yield db
    finally:
        db.stop()
        shutil.rmtree(base, ignore_errors=True)


class LocalContext:
    """kinds/base.ProbeContext: the real local runner (collect/runner.py), or a host's
    runner (an SSHHost) by vantage, and the one script runner (collect/patches.run_script);
    ``poll`` keeps each row as the store would (through JSON) so the next probe's
    ``previous`` is what the collector gives."""

    def __init__(self, runners: dict | None = None) -> None:
        from opsdash.collect.runner import LocalRunner

        self.runner = LocalRunner()
        self.runners = {"local": self.runner, **(runners or {})}  # a host's name -> its runner (SSHHost)
        self.rows: dict[tuple[str, str, str], dict] = {}

    def clock(self) -> float:
        return time.time()

    async def run_script(self, vantage: str, body: str, timeout: float):
        from opsdash.kinds.sections import run_script

        return await run_script(self.runners[vantage], body, timeout=timeout)

    async def previous(self, kind: str, target: str, name: str) -> dict | None:
        return self.rows.get((kind, target, name))

    async def read_file(self, path: str, max_bytes: int = 65536) -> bytes:
        import asyncio

        def read() -> bytes:
            with open(path, "rb") as f:
                return f.read(max_bytes)
        return await asyncio.to_thread(read)

    async def poll(self, kind, check, vantage: str = "local") -> dict:
        import json

        row = await kind.probe(check, vantage, self)
        data = json.loads(json.dumps(row.to_json()))
        self.rows[(kind.name, check.name, vantage)] = data
        return data
