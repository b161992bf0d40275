"""The network under httpx, with its own clock: when the TCP connect starts and
when the first response byte arrives, stamped as close to the wire as we can.

Why: TTFB read from httpx's trace events ("response headers received") counted
our own work as the server's: anyio's happy-eyeballs connect, the pool's locks
and h11 between the connect and the request write, the loop iteration and the
parsing after the bytes came, and whatever other task the collector's loop ran
meanwhile. On an idle machine that was 1.9 ms against curl's 0.6 (bench/RESULTS.md).
So this backend:

- connects lazily, at the request's first write (or at the TLS handshake), so
  no pool bookkeeping runs between the connect and the send;
- takes the handshake's time from the kernel (TCP_INFO's RTT of the SYN), not
  from when the loop got round to telling us the socket was writable;
- stamps the request right before its first send(2), and the first response
  byte with the kernel's receive time (SO_TIMESTAMPNS, read with recvmsg), so
  neither a busy loop nor a descheduled process moves it. Where the kernel
  gives none, the times we saw.

The probe (http.py) adds up the network intervals: connect_start..connected,
tls_start..tls_done, request_sent..first_byte; our own work between them is
nobody's TTFB. It hands its marks dict to the streams through ``MARKS`` (a
ContextVar: httpcore runs a request's reads and writes in the caller's task).
All marks are on the time.perf_counter() clock.

Streams are raw non-blocking sockets on the running loop (add_reader and
add_writer only while waiting); TLS is ssl.SSLObject over memory BIOs, as anyio
does it. Errors are httpcore's (ConnectError, ReadTimeout...), which httpx maps.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import select
import socket
import ssl
import struct
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import httpcore

from . import resolve

__all__ = ["MARKS", "TimedBackend"]

MARKS: ContextVar[dict[str, float] | None] = ContextVar("opsdash_http_marks", default=None)

# SO_TIMESTAMPNS (and its cmsg type) on Linux; Python's socket module does not name it.
_SO_TIMESTAMPNS = 35 if sys.platform == "linux" else None
_TIMESPEC = struct.Struct("@ll")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) if _SO_TIMESTAMPNS else 0
_READ_SIZE = 65536
_TCPI_RTT = 68  # offset of tcpi_rtt (u32, microseconds) in Linux's struct tcp_info


def _mark(name: str, t: float | None = None, *, again: bool = False) -> None:
    marks = MARKS.get()
    if marks is not None and (again or name not in marks):
        marks[name] = time.perf_counter() if t is None else t


def _rx_time(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time of the bytes just read, on the perf_counter clock."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            # The stamp is wall-clock; move it onto perf_counter by the offset between the two now.
            now_perf, now_wall = time.perf_counter(), time.time()
            t = now_perf - (now_wall - (sec + nsec / 1e9))
            return min(t, now_perf)
    return None


class _Socket:
    """A non-blocking TCP socket on the running loop, connected at first use."""

    def __init__(self, host: str, port: int, connect_timeout: float | None,
                 local_address: str | None, socket_options: Iterable[Any] | None) -> None:
        self.host, self.port = host.strip("[]"), port
        self.connect_timeout = connect_timeout
        self.local_address = local_address
        self.socket_options = list(socket_options or ())
        self.sock: socket.socket | None = None
        self.rx_time: float | None = None  # of the latest bytes read
        self.mark_next_send = False  # the next send(2) starts a request
        self._closed = False

    async def _wait(self, writable: bool, timeout: float | None, exc: type[Exception]) -> None:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        fd = self.sock.fileno()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        (loop.add_writer if writable else loop.add_reader)(fd, ready)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            raise exc("timed out") from None
        finally:
            (loop.remove_writer if writable else loop.remove_reader)(fd)

    async def connect(self) -> None:
        if self.sock is not None:
            return
        if self._closed:
            raise httpcore.ConnectError("connection closed")
        try:
            ipaddress.ip_address(self.host)
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            addr: str = self.host
        except ValueError:  # a name: HTTPProbe resolves first, but a client may not
            infos = await resolve.getaddrinfo(self.host, self.port, self.connect_timeout or 30.0)
            family, addr = infos[0][0], infos[0][4][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock = sock
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for opt in self.socket_options:
                sock.setsockopt(*opt)
            if _SO_TIMESTAMPNS:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                except OSError:
                    pass  # no kernel stamps: the read's time is used
            if self.local_address:
                sock.bind((self.local_address, 0))
            _mark("connect_start")  # the clock starts here, right before connect(2)
            err = sock.connect_ex((addr, self.port))
            if err in (errno.EINPROGRESS, errno.EAGAIN):
                # On a fast path (loopback, LAN) the handshake is done by now: ask
                # the socket before handing the loop a turn.
                p = select.poll()
                p.register(sock.fileno(), select.POLLOUT)
                if not p.poll(0):
                    await self._wait(True, self.connect_timeout, httpcore.ConnectTimeout)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise httpcore.ConnectError(os.strerror(err))
        except OSError as e:
            self.close()
            raise httpcore.ConnectError(e.strerror or str(e)) from e
        except BaseException:
            self.close()
            raise
        _mark("connected", self._handshake_done())

    def _handshake_done(self) -> float:
        """connect_start + the SYN's round trip as the kernel measured it (now, where it says nothing)."""
        now = time.perf_counter()
        marks = MARKS.get()
        start = marks.get("connect_start") if marks is not None else None
        if start is None or sys.platform != "linux":
            return now
        try:
            info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)  # type: ignore[union-attr]
            rtt_us = struct.unpack_from("I", info, _TCPI_RTT)[0]
        except (OSError, struct.error):
            return now
        return min(now, start + rtt_us / 1e6) if rtt_us else now

    async def send(self, data: bytes, timeout: float | None) -> None:
        await self.connect()
        assert self.sock is not None
        view = memoryview(data)
        if self.mark_next_send:
            self.mark_next_send = False
            _mark("request_sent")  # right before the request's first send(2)
        while view:
            try:
                n = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                await self._wait(True, timeout, httpcore.WriteTimeout)
                continue
            except OSError as e:
                raise httpcore.WriteError(e.strerror or str(e)) from e
            view = view[n:]

    async def recv(self, max_bytes: int, timeout: float | None) -> bytes:
        await self.connect()
        assert self.sock is not None
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(max_bytes, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                await self._wait(False, timeout, httpcore.ReadTimeout)
                continue
            except OSError as e:
                raise httpcore.ReadError(e.strerror or str(e)) from e
            if data:
                self.rx_time = _rx_time(anc) or time.perf_counter()
            return data

    def try_recv(self, max_bytes: int) -> bytes:
        """What is already there, without waiting."""
        assert self.sock is not None
        try:
            return self.sock.recv(max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as e:
            raise httpcore.ReadError(e.strerror or str(e)) from e

    def readable_when_idle(self) -> bool:
        """httpcore's check that a kept-alive connection was not dropped: readable while idle means EOF."""
        if self.sock is None:
            return False
        p = select.poll()
        p.register(self.sock.fileno(), select.POLLIN)
        return bool(p.poll(0))

    def close(self) -> None:
        self._closed = True
        if self.sock is not None:
            self.sock.close()


class _PlainStream(httpcore.AsyncNetworkStream):
    def __init__(self, sock: _Socket) -> None:
        self._sock = sock
        self._awaiting_first = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._awaiting_first:
            return await self._sock.recv(max_bytes, timeout)
        # One byte first: recvmsg stamps the latest packet it consumed, so a
        # big read could give the time of a later packet than the first.
        data = await self._sock.recv(1, timeout)
        if data:
            self._awaiting_first = False
            _mark("first_byte", self._sock.rx_time)
            if max_bytes > 1:
                data += self._sock.try_recv(max_bytes - 1)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if not self._awaiting_first:  # the first write of a request
            self._awaiting_first = True
            self._sock.mark_next_send = True
        await self._sock.send(buffer, timeout)

    async def aclose(self) -> None:
        self._sock.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            await self._sock.connect()
            tls = _TLSStream(self._sock, ssl_context, server_hostname)
            await tls.handshake(timeout)
        except BaseException:  # httpcore does not close a stream whose handshake failed
            self._sock.close()
            raise
        return tls

    def get_extra_info(self, info: str) -> Any:
        return _extra(self._sock, info, None)


class _TLSStream(httpcore.AsyncNetworkStream):
    def __init__(self, sock: _Socket, ctx: ssl.SSLContext, server_hostname: str | None) -> None:
        self._sock = sock
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._in, self._out, server_side=False, server_hostname=server_hostname)
        self._awaiting_first = False

    async def _run(self, fn: Any, *args: Any, timeout: float | None) -> Any:
        """One SSLObject call, feeding it the socket's bytes until it has what it needs."""
        while True:
            try:
                result = fn(*args)
                want_read = False
            except ssl.SSLWantReadError:
                want_read = True
            if self._out.pending:
                await self._sock.send(self._out.read(), timeout)
            if not want_read:
                return result
            data = await self._sock.recv(_READ_SIZE, timeout)
            if data:
                self._in.write(data)
            else:
                self._in.write_eof()

    async def handshake(self, timeout: float | None) -> None:
        _mark("tls_start")
        try:
            await self._run(self._obj.do_handshake, timeout=timeout)
        except httpcore.ReadTimeout as e:
            raise httpcore.ConnectTimeout(str(e)) from None
        except (httpcore.ReadError, httpcore.WriteError) as e:
            raise httpcore.ConnectError(str(e)) from e
        except ssl.SSLError as e:  # "[SSL: CERTIFICATE_VERIFY_FAILED] ...": the probe reads it as TLS
            raise httpcore.ConnectError(str(e)) from e
        _mark("tls_done")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            data = await self._run(self._obj.read, max_bytes, timeout=timeout)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # the peer closed (with or without close_notify), as anyio's non-strict mode
        except ssl.SSLError as e:
            raise httpcore.ReadError(str(e)) from e
        if data and self._awaiting_first:
            self._awaiting_first = False
            _mark("first_byte", self._sock.rx_time)  # the socket bytes that held the first record
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if not self._awaiting_first:
            self._awaiting_first = True
            self._sock.mark_next_send = True
        try:
            await self._run(self._obj.write, buffer, timeout=timeout)
        except ssl.SSLError as e:
            raise httpcore.WriteError(str(e)) from e

    async def aclose(self) -> None:
        self._sock.close()

    def get_extra_info(self, info: str) -> Any:
        return _extra(self._sock, info, self._obj)


def _extra(sock: _Socket, info: str, ssl_object: ssl.SSLObject | None) -> Any:
    if info == "ssl_object":
        return ssl_object
    if info == "is_readable":
        return sock.readable_when_idle()
    if sock.sock is None:
        return None
    if info == "socket":
        return sock.sock
    if info == "client_addr":
        return sock.sock.getsockname()
    if info == "server_addr":
        return sock.sock.getpeername()
    return None


class TimedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network for HTTPProbe: TCP only (no unix sockets), on asyncio."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        # Not connected yet: see the module's docstring.
        return _PlainStream(_Socket(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not supported by the HTTP probe")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
