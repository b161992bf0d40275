"""Real servers for integration tests (redis, memcached), started on free loopback
ports and stopped by PID. The tests install nothing; .ci/run installs the packages."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.sshd import keygen

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {deadline_s}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # by PID: Popen.terminate signals proc.pid only
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Redis:
    def __init__(self, workdir: Path, port: int, password: str | None = None):
        self.workdir, self.port, self.password = workdir, port, password
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port, self.proc)

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)

    def command(self, *args: str) -> bytes:
        """One RESP command on a fresh connection; the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b""
            if self.password:
                out += resp("AUTH", self.password)
            s.sendall(out + resp(*args) + resp("QUIT"))
            return recv_all(s)

    def hits_and_misses(self, hits: int, misses: int) -> None:
        self.command("SET", "present", "v")
        for _ in range(hits):
            assert b"$1\r\nv" in self.command("GET", "present")
        for i in range(misses):
            assert b"$-1" in self.command("GET", f"absent-{i}")


def resp(*args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


def recv_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def need(*binaries: str) -> None:
    missing = [b for b in binaries if not shutil.which(b)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (.ci/run installs the Debian packages)")


def start_memcached(cwd: Path) -> tuple[int, subprocess.Popen]:
    need("memcached")
    port = free_port()
    args = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16"]
    if os.geteuid() == 0:
        args += ["-u", "root"]  # memcached refuses root without -u
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    return port, proc


class FaultServer:
    def __init__(self, mode: str, tmp: Path):
        key = tmp / f"fault-{mode}-key"
        if not key.exists():
            keygen(key)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fault_sshd.py"), mode, str(self.port), str(key)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        pub = (tmp / f"fault-{mode}-key.pub").read_text().split()
        self.known_line = f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
