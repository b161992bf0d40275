"""A wallboard tab's viewer lives exactly as long as its tab and its server: gone within a
second or two of its tab closing (also when the tab closes while the viewer is still
starting), and at once when `opsdash web` is killed -9. A websocket client stands in for
the browser (the page's own protocol: textual-serve's /ws). With no collector running, a
tab's viewer leaves the store's collector lock free."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from opsdash.collector_lock import CollectorLock
from tests.support.servers import free_port
from tests.support.ui_fixtures import build_store

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _gone(pid: int, timeout: float) -> float:
    t0 = time.monotonic()
    while _alive(pid):
        assert time.monotonic() - t0 < timeout, f"viewer {pid} still running after {timeout:g}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


@pytest.fixture
def server(tmp_path: Path):
    store = build_store(tmp_path / "store.sqlite")
    config = tmp_path / "c.toml"
    config.write_text('[[hosts]]\nname = "web-1"\nprobes = ["local"]\n')
    port = free_port()
    with open(tmp_path / "web.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "opsdash", "web", "--listen", f"127.0.0.1:{port}",
                                 "--config", str(config), "--store", str(store)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while b"serving" not in (tmp_path / "web.log").read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()
            time.sleep(0.05)
        yield proc, f"http://127.0.0.1:{port}/ws?width=120&height=40", store
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)


def _argv(pid: int, *more: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


async def _open(session: aiohttp.ClientSession, url: str, web: subprocess.Popen) -> tuple[aiohttp.ClientWebSocketResponse, int]:
    before = set(_children(web.pid))
    ws = await session.ws_connect(url)
    await ws.send_str(json.dumps(["resize", {"width": 120, "height": 40}]))
    deadline = time.monotonic() + 10
    argv: list[bytes] = []
    # A child just forked may not have exec'd yet (the server's argv, or none for an instant).
    while not (new := set(_children(web.pid)) - before) or b"run" not in (argv := _argv(*new)):
        assert time.monotonic() < deadline, f"no viewer process for the tab: {new} {argv}"
        await asyncio.sleep(0.05)
    (pid,) = new
    assert b"--no-collector" in argv and b"--read-only" in argv
    return ws, pid


async def _first_screen(ws: aiohttp.ClientWebSocketResponse, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    got = 0
    while got < 1000:
        msg = await asyncio.wait_for(ws.receive(), max(0.1, deadline - time.monotonic()))
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
        if msg.type == aiohttp.WSMsgType.BINARY:
            got += len(msg.data)


async def test_a_viewer_goes_with_its_tab_even_while_starting_and_with_a_killed_server(server) -> None:
    web, url, store = server
    async with aiohttp.ClientSession() as session:
        # A tab that showed the dashboard, then closed: its viewer hangs up, well within the
        # 3 s after which it would be killed.
        ws, pid = await _open(session, url, web)
        await _first_screen(ws)
        # No collector writes this store, and the tab's viewer does not become one: the lock
        # stays free while it reads (a TUI without --no-collector takes it within a second).
        await asyncio.sleep(2.0)
        lock = CollectorLock(store)
        assert lock.try_acquire(), "a wallboard viewer took the store's collector lock"
        lock.release()
        await ws.close()
        assert await _gone(pid, 5) < 2.5

        # A tab closed while its viewer was still starting.
        ws, pid = await _open(session, url, web)
        await ws.close()
        await _gone(pid, 5)

        # The server killed -9 with a tab open: no time to close anything, the viewer goes too.
        ws, pid = await _open(session, url, web)
        await _first_screen(ws)
        os.kill(web.pid, signal.SIGKILL)
        web.wait(5)
        await _gone(pid, 3)
        await ws.close()


async def test_a_page_from_another_origin_cannot_open_a_tab(server) -> None:
    """Cross-site websocket hijacking: any page the user visits could open ws://127.0.0.1:PORT
    (websockets are not held to the same-origin policy) and read the fleet; a name rebound to
    127.0.0.1 the same. Refused before a viewer starts; the wallboard's own pages get in."""
    web, url, _store = server
    port = int(url.split(":")[2].split("/")[0])
    async with aiohttp.ClientSession() as session:
        for origin in ("http://evil.example", f"http://rebound.example:{port}", f"http://127.0.0.1:{port + 1}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await session.ws_connect(url, headers={"Origin": origin})
            assert e.value.status == 403, origin
        assert not _children(web.pid), "a refused page started a viewer"
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
            ws = await session.ws_connect(url, headers={"Origin": origin})
            await _first_screen(ws)
            await ws.close()
