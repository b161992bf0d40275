"""Faults on purpose (issue 8): hosts and servers that misbehave, a store that fails.

The collector must report each as a host state with a reason, keep every
other host on schedule, and never stall its event loop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from opsdash.collect.collector import Collector
from opsdash.collect.http import HTTPProbe
from opsdash.config import parse_config
from opsdash.errors import StoreError
from opsdash.model import Sample
from opsdash.store import Store
from tests.support.servers import FaultServer
from tests.support.sshd import Sshd, free_port, start_sshd, wait_port

pytestmark = pytest.mark.integration


@pytest.fixture
def faults(tmp_path: Path, sshd: Sshd):
    servers: dict[str, FaultServer] = {}

    def start(mode: str) -> FaultServer:
        s = FaultServer(mode, tmp_path)
        servers[f"{mode}-{s.port}"] = s
        with open(sshd.known_hosts, "a") as f:  # known hosts: failures must come from the fault, not the key
            f.write(s.known_line)
        return s

    yield start
    for s in servers.values():
        s.stop()


async def test_each_ssh_fault_is_a_state_with_a_reason(sshd: Sshd, faults) -> None:
    cfg = parse_config(
        '[defaults]\ntimeout = "3s"\n'
        + sshd.host_toml("good")
        + sshd.host_toml("drop", port=faults("drop").port)
        + sshd.host_toml("stall", port=faults("stall").port)
        + sshd.host_toml("garbage", port=faults("garbage").port)
        + sshd.host_toml("flood", port=faults("flood").port)
        + '[[hosts]]\nname = "nxdomain"\naddress = "no-such-host.invalid"\n'
    )
    c = Collector(cfg)
    t0 = time.monotonic()
    await c.snapshot_once(probes={"health"})
    assert time.monotonic() - t0 < 3 + 1 + 2
    st = {n: (h.state, h.error) for n, h in c.hosts.items()}
    assert st["good"][0] == "ok"
    assert st["drop"][0] == "error" and "closed" in st["drop"][1] or "lost" in st["drop"][1]
    assert st["stall"][0] == "timeout"
    assert st["garbage"][0] == "error" and "line" in st["garbage"][1]
    assert st["flood"][0] == "error" and "over 8 MiB" in st["flood"][1]
    assert st["nxdomain"][0] == "unreachable" and "resolve" in st["nxdomain"][1]


async def test_forty_good_hosts_stay_on_schedule_beside_ten_bad_ones(sshd: Sshd, faults, silent_listener: int, caplog) -> None:
    bad = []
    for mode in ("drop", "stall", "garbage", "flood"):
        for _ in range(2):
            bad.append((mode, faults(mode).port))
    cfg_text = '[defaults]\ninterval = "1s"\ntimeout = "2s"\n' + "".join(sshd.host_toml(f"good-{i}") for i in range(40))
    for i, (mode, port) in enumerate(bad):
        cfg_text += sshd.host_toml(f"bad-{mode}-{i}", port=port)
    cfg_text += sshd.host_toml("bad-mute", port=silent_listener)
    cfg_text += sshd.host_toml("bad-refused", port=free_port())
    c = Collector(parse_config(cfg_text))
    stats = await c.run(duration=10.0)
    good = [j for j in c.jobs if j.target.startswith("good-")]
    polls = sum(j.polls for j in good)
    late = sum(j.polls_late for j in good)
    failed = sum(j.polls_failed for j in good)
    assert failed == 0
    assert polls >= 40 * 8  # ~1/s for 10 s after a jittered start
    assert late / polls <= 0.01, f"{late} of {polls} polls late"
    assert stats["loop_lag_ms"]["max"] < 100, stats["loop_lag_ms"]
    assert {c.hosts[f"bad-{m}-{i}"].state for i, (m, _) in enumerate(bad)} <= {"error", "timeout"}
    gc.collect()  # an abandoned task's exception is reported when the task is collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_full_collections_over_a_large_heap_do_not_stall_polls(sshd: Sshd) -> None:
    # A long-running collector (or this test runner) holds a large heap; a full GC pass
    # walks all of it while the loop waits: 2M objects is ~130 ms here. Force one every
    # second instead of waiting for CPython to choose its moment.
    ballast = [[i] for i in range(2_000_000)]
    cfg = parse_config('[defaults]\ninterval = "0.5s"\ntimeout = "2s"\n' + "".join(sshd.host_toml(f"web-{i}") for i in range(10)))
    c = Collector(cfg)

    async def full_collections() -> None:
        while True:
            await asyncio.sleep(1.0)
            gc.collect()

    collecting = asyncio.create_task(full_collections())
    try:
        stats = await c.run(duration=5.0)
    finally:
        collecting.cancel()
    assert len(ballast) == 2_000_000
    assert sum(j.polls for j in c.jobs) >= 10 * 6
    assert stats["loop_lag_ms"]["max"] < 100, stats["loop_lag_ms"]


async def test_sshd_restart_reconnects_without_a_storm(tmp_path: Path) -> None:
    server = start_sshd(tmp_path / "a")
    try:
        cfg = parse_config('[defaults]\ninterval = "0.5s"\ntimeout = "2s"\n' + server.host_toml("web"))
        c = Collector(cfg)
        task = asyncio.create_task(c.run())
        await asyncio.sleep(2)
        assert c.hosts["web"].state == "ok"
        host = c.ssh("web")
        conns_before = host.connects
        # Restart sshd on the same port with the same keys, its per-connection
        # children included (they setsid(), so find them by parentage): the
        # live connection dies, as when a host's sshd is killed or it reboots.
        import psutil

        children = psutil.Process(server.pid).children(recursive=True)
        server.proc.kill()
        server.proc.wait(5)
        for child in children:
            child.kill()
        await asyncio.sleep(1.5)
        cfg_file = tmp_path / "a" / "sshd_config"
        proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        server.proc, server.pid = proc, proc.pid
        wait_port(server.port)
        for _ in range(60):
            await asyncio.sleep(0.25)
            if c.hosts["web"].state == "ok" and host.connects > conns_before:
                break
        c.stop()
        await task
        assert c.hosts["web"].state == "ok"
        # Backoff, not a storm: a handful of reconnects in ~15 s at a 0.5 s interval.
        assert 1 <= host.connects - conns_before <= 5
    finally:
        server.stop()


# --- HTTP faults ----------------------------------------------------------------


def _serve_raw(handler) -> tuple[int, threading.Event]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def loop() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=handler, args=(conn, stop), daemon=True).start()
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1], stop


def _stall_after_headers(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
    stop.wait(30)
    conn.close()


def _reset(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def _redirect_loop(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conn.close()


def _not_tls(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS")
    conn.close()


@pytest.mark.parametrize(
    "handler,scheme,state,words",
    [
        (_stall_after_headers, "http", "timeout", "no response"),
        (_reset, "http", "error", ""),
        (_redirect_loop, "http", "bad-status", "302"),
        (_not_tls, "https", "error", "TLS"),
    ],
    ids=["stall-after-headers", "reset", "redirect-loop", "invalid-tls"],
)
async def test_http_faults_are_states_not_hangs(handler, scheme: str, state: str, words: str) -> None:
    port, stop = _serve_raw(handler)
    try:
        cfg = parse_config(f'[[endpoints]]\nname = "e"\nurl = "{scheme}://127.0.0.1:{port}/"\ntimeout = "2s"\n')
        probe = HTTPProbe()
        t0 = time.monotonic()
        r = await probe.probe(cfg.endpoints[0])
        await probe.close()
        assert time.monotonic() - t0 < 3
        assert not r.ok and r.state == state, (r.state, r.error)
        assert words in (r.error or "")
    finally:
        stop.set()


# --- the store -------------------------------------------------------------------


def test_a_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "store.sqlite"
    bad.write_bytes(b"this is not a database, it was overwritten by accident" * 100)
    with pytest.raises(StoreError) as e:
        Store(bad)
    assert str(bad) in str(e.value) and "not a database" in str(e.value)
    r = subprocess.run([sys.executable, "-m", "opsdash", "alerts", "--store", str(bad), "--config", "/nonexistent"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "not a database" in r.stderr


def test_a_locked_store_fails_clearly_and_keeps_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    writer = Store(path, timeout=0.2)
    blocker = __import__("sqlite3").connect(path)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    c = Collector(parse_config('[[hosts]]\nname = "x"\nprobes = ["local"]\n'), writer)
    c._pending.append(Sample(1.0, "x", "host.up", 1.0))
    asyncio.run(c.flush())
    assert c.last_error and "locked" in c.last_error
    assert len(c._pending) == 1  # kept for the next flush, not lost
    blocker.rollback()
    blocker.close()
    asyncio.run(c.flush())
    assert c.last_error is None and writer.history("x", "host.up", 0) == [(1.0, 1.0)]
    writer.close()


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/mount").exists(), reason="needs root to mount a tiny tmpfs")
def test_a_full_disk_keeps_acks_and_reports(tmp_path: Path) -> None:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {r.stderr.decode().strip()}")
    try:
        store = Store(mnt / "store.sqlite")
        ack = store.add_ack("a1", who="me", note="on it")
        big = [Sample(float(i), "h", "host.cpu_percent", float(i), {"pad": "x" * 200}) for i in range(20000)]
        with pytest.raises(StoreError) as e:
            store.write_samples(big)
        assert "full" in str(e.value)
        store.close()
        with Store(mnt / "store.sqlite") as again:
            assert again.active_ack("a1", time.time()) is not None and ack > 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)])
