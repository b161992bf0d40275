"""Shared fixtures: a real sshd on loopback, servers that misbehave on purpose."""

from __future__ import annotations

import os
import shutil
import socket
import threading

import httpx
import pytest

from tests.support.sshd import SSHD, Sshd, start_sshd


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


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory):
    """A real Alertmanager (Debian's) on a loopback port, routing to nothing: silences and
    alerts are read back through its API. One per test module."""
    from tests.support.source_stack import BINARIES, Stack, wait_for

    if not os.path.exists(BINARIES["alertmanager"]):
        pytest.skip("not installed: prometheus-alertmanager (Debian package)")
    root = tmp_path_factory.mktemp("am")
    s = Stack(root)
    (root / "alertmanager.yml").write_text("route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n")
    s.start("alertmanager", [
        BINARIES["alertmanager"], f"--config.file={root / 'alertmanager.yml'}", f"--storage.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{s.am_port}", "--cluster.listen-address=",
    ])
    try:
        wait_for("alertmanager ready", lambda: httpx.get(s.am + "/-/ready", timeout=5).status_code == 200, timeout=30)
    except BaseException:
        s.stop()
        raise
    yield s
    s.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``waits`` (half a minute or more, nearly all of it waiting on a tool's
    retries or on processes being killed) start first: the workers take tests in this order,
    and one started last would leave the others idle at the end. Only the waiting kind:
    moving the busy long tests up front too made the start a CPU pile-up (385 s, not 290 s)."""
    items.sort(key=lambda item: item.get_closest_marker("waits") is None)
