"""Shared fixtures: a real sshd on loopback, servers that misbehave on purpose."""

from __future__ import annotations

import shutil
import socket
import threading

import pytest

from tests.sshd import SSHD, Sshd, start_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Sshd:
    if not shutil.which("ssh-keygen") or not shutil.os.path.exists(SSHD):
        pytest.skip("openssh-server is not installed (.ci/run installs it)")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def silent_listener():
    """A TCP port that accepts connections and never says a word (a hung host)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                held.append(c)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()
