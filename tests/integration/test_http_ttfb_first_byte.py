"""TTFB is the first response byte, as curl's time_starttransfer, on real loopback servers.

The probe's network backend (collect/http_timing.py) stamps the first byte
itself; these check what that means for a reply whose head comes in pieces
and for a kept-alive connection. The gaps are hundreds of milliseconds, so
no assertion depends on the machine being quiet.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from opsdash.collect.http import HTTPProbe
from opsdash.config import parse_config

pytestmark = pytest.mark.integration


def _serve(handler) -> tuple[int, threading.Event]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        with srv:
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1], stop


def _read_head(conn: socket.socket, buf: bytes = b"") -> bytes:
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        buf += chunk
    return buf.split(b"\r\n\r\n", 1)[1]


def _head_in_two_pieces(conn: socket.socket) -> None:
    with conn:
        _read_head(conn)
        time.sleep(0.1)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")  # the first byte at 100 ms
        time.sleep(0.4)
        conn.sendall(b"Content-Length: 2\r\nConnection: close\r\n\r\nok")  # the head complete at 500 ms


def _keep_alive(conn: socket.socket) -> None:
    with conn:
        buf = b""
        while True:  # one reply per request head, on the same connection, until the client closes
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf.split(b"\r\n\r\n", 1)[1]
            time.sleep(0.1)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _endpoint(port: int, extra: str = ""):
    return parse_config(f'[[endpoints]]\nname = "e"\nurl = "http://127.0.0.1:{port}/"\ntimeout = "3s"\n{extra}').endpoints[0]


async def test_ttfb_is_the_first_byte_not_the_complete_head() -> None:
    port, stop = _serve(_head_in_two_pieces)
    probe = HTTPProbe()
    try:
        r = await probe.probe(_endpoint(port))
    finally:
        await probe.close()
        stop.set()
    assert r.ok and r.phases is not None, r.error
    ph = r.phases
    assert 100 <= ph.ttfb_ms < 400, ph  # the first byte, not the head's end at 500 ms
    assert ph.total_ms >= 500, ph
    assert ph.dns_ms <= ph.connect_ms <= ph.ttfb_ms <= ph.total_ms


async def test_a_kept_alive_connection_has_no_connect_phase_and_the_same_ttfb() -> None:
    port, stop = _serve(_keep_alive)
    probe = HTTPProbe()
    try:
        ep = _endpoint(port, "fresh_connection = false\n")
        first = await probe.probe(ep)
        second = await probe.probe(ep)
    finally:
        await probe.close()
        stop.set()
    assert first.ok and second.ok, (first.error, second.error)
    assert first.phases.connect_ms >= first.phases.dns_ms
    assert second.phases.connect_ms == second.phases.dns_ms  # reused: no handshake this time
    for r in (first, second):
        assert 100 <= r.phases.ttfb_ms < 400, r.phases
