"""The wallboard in a real browser: `opsdash web` over a store that a real `opsdash collect`
keeps live (the demo fleet: real SSH and HTTP on loopback), opened in Debian's headless
Chromium. The six panes show live values; an ack from the browser is refused; two tabs
cost two viewers and still exactly one collector polls.

What Chromium shows is read from xterm.js's own buffer in the page (tests/support/chromium.py),
and the screenshot is kept in the test's tmp dir (its path is printed) to look at.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from opsdash.collector_lock import lock_path
from opsdash.commands.demo import start_fleet, stop_fleet, wait_ready
from opsdash.demo.config import make_keys, write_config
from opsdash.errors import StoreError
from opsdash.store import Store
from tests.support import chromium
from tests.support.servers import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not chromium.available(), reason=f"{chromium.CHROMIUM} is not installed (Debian package chromium)"),
]

# The screenshot is kept here to look at (not in tmp_path: pytest prunes old basetemps).
ARTIFACTS = Path(os.environ.get("OPSDASH_TEST_ARTIFACTS") or tempfile.gettempdir())
PANES = ("Health", "Latency", "Cache", "Patches", "Backups", "Alerts")
# A live value in each pane, as the screen shows it: a host's CPU and memory, an endpoint's
# p50 in ms, a cache's hit rate, a host's pending patches, a backup's snapshot count.
LIVE = {
    "Health": re.compile(r"web-1\s+\d+%\s+\d+%"),
    "Latency": re.compile(r"shop-home\s+local\s+\d+"),
    "Cache": re.compile(r"sessions\s+\S+\s+\d+(\.\d+)?%"),
    "Patches": re.compile(r"db-1\s+\d+\s+\d+"),
    "Backups": re.compile(r"db-dump\s"),
    "Alerts": re.compile(r"reboot|CRIT|WARN"),
}


def _env() -> dict[str, str]:
    return {**os.environ, "OPSDASH_CONFIG": "/nonexistent"}


def _opsdash(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "opsdash", *args], env=_env(), stdin=subprocess.DEVNULL, **kw)


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


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _flock_holders(path: Path) -> list[int]:
    """The PIDs holding a flock on ``path`` (/proc/locks: the kernel's word, not a PID file)."""
    st = path.stat()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = []
    for line in Path("/proc/locks").read_text().splitlines():
        f = line.split()
        if "->" in f:  # a waiter, not a holder
            continue
        if len(f) >= 6 and f[1] == "FLOCK" and f[5] == dev:
            holders.append(int(f[4]))
    return holders


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(what: str, ok, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"{what}: not after {timeout:g}s"
        time.sleep(0.1)


def _store_has_every_pane(store: Path) -> bool:
    if not store.exists():
        return False
    try:
        with Store(store, readonly=True) as s:
            kinds = {m.split(".", 1)[0] for _t, m, _l in s.series()}
    except StoreError:  # being created
        return False
    return {"host", "endpoint", "cache", "patches", "backup"} <= kinds


@pytest.fixture
def wallboard(tmp_path: Path):
    """The demo fleet (a separate process), one real `opsdash collect` writing the store, and
    `opsdash web` over it, started together (the tabs wait for the first polls on screen)."""
    d = tmp_path / "fleet"
    make_keys(d)
    fleet = start_fleet(d, 12)
    procs: list[subprocess.Popen] = []
    try:
        config = write_config(d, wait_ready(d, fleet))
        store = tmp_path / "opsdash.sqlite"
        port = free_port()
        with open(tmp_path / "collect.log", "wb") as log:
            procs.append(_opsdash("collect", "--config", str(config), "--store", str(store),
                                  stdout=subprocess.DEVNULL, stderr=log))
        with open(tmp_path / "web.log", "wb") as log:
            procs.append(_opsdash("web", "--listen", f"127.0.0.1:{port}", "--config", str(config), "--store",
                                  str(store), stdout=log, stderr=log))
        collect, web = procs
        _wait("opsdash web listening",
              lambda: web.poll() is None and b"serving" in (tmp_path / "web.log").read_bytes(), 15)
        _wait("the collector holding the store's lock",
              lambda: collect.poll() is None and lock_path(store).exists() and _flock_holders(lock_path(store)), 15)
        yield store, collect, web, f"http://127.0.0.1:{port}/"
    finally:
        for proc in reversed(procs):
            _stop(proc)
        stop_fleet(fleet)


def _collectors_of(store: Path) -> list[int]:
    """Every `opsdash collect` process on this store, from the process table."""
    pids = []
    for p in Path("/proc").glob("[0-9]*"):
        argv = _cmdline(int(p.name))
        if argv[1:4] == ["-m", "opsdash", "collect"] and str(store) in argv:
            pids.append(int(p.name))
    return pids


def _viewers(web_pid: int) -> list[int]:
    return [p for p in _children(web_pid) if "run" in _cmdline(p)]


async def test_the_wallboard_shows_six_live_panes_and_two_tabs_leave_one_collector(tmp_path: Path,
                                                                                 wallboard) -> None:
    store, collect, web, url = wallboard
    async with chromium.Chromium(tmp_path) as browser:
        tabs = [await browser.open(url), await browser.open(url)]  # two tabs, started together
        await asyncio.gather(*(t.wait_for_text(*PANES, "web-1", "shop-home", "sessions", "db-dump",
                                               "collector live", timeout=40) for t in tabs))
        tab = tabs[0]
        # Live values, not just titles: each pane's pattern, on a screen that keeps moving.
        text = await tab.screen_text()
        deadline = time.monotonic() + 15
        while not all(p.search(text) for p in LIVE.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            text = await tab.screen_text()
        missing = [pane for pane, p in LIVE.items() if not p.search(text)]
        assert not missing, f"no live value in {missing}:\n{text}"
        shot = await tab.screenshot(ARTIFACTS / "opsdash-wallboard.png")
        print(f"\nwallboard screenshot: {shot}")
        png = shot.read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1600 and len(png) > 50_000
        clock = re.search(r"\d\d:\d\d:\d\d", text.splitlines()[0])
        assert clock, text.splitlines()[0]
        assert await _moved(tab, clock.group(0)), "the header's clock stood still"

        # Two tabs: two viewers, and still the one collector, across its polls.
        viewers = _viewers(web.pid)
        assert len(viewers) == 2, [_cmdline(p) for p in _children(web.pid)]
        for v in viewers:
            argv = _cmdline(v)
            assert "--no-collector" in argv and "--read-only" in argv, argv
        beats = []
        deadline = time.monotonic() + 10
        while len(set(beats)) < 2:  # until the collector has written again, with both tabs reading
            assert time.monotonic() < deadline, "the collector wrote no heartbeat while the tabs were open"
            assert _flock_holders(lock_path(store)) == [collect.pid]
            assert _collectors_of(store) == [collect.pid]
            with Store(store, readonly=True) as s:
                status = s.collector_status()
            assert status["pid"] == collect.pid
            beats.append(status["heartbeat"])
            await asyncio.sleep(0.5)

        # The browser cannot ack: the key is refused on screen and nothing reaches the store.
        await tab.evaluate("window.__xterms[0].focus()")
        await tab.press("6")
        await tab.press("a")
        await tab.wait_for_text("read-only wallboard", timeout=10)
        print(f"the refusal: {await tab.screenshot(ARTIFACTS / 'opsdash-wallboard-refused.png')}")
        with Store(store, readonly=True) as s:
            assert not [a for a in s.alerts() if a.acked], "an ack from the wallboard reached the store"

        # A closed tab takes its viewer with it.
        await tabs[1].close()
        _wait("the closed tab's viewer gone", lambda: len(_viewers(web.pid)) == 1, 5)
        await tab.close()
        _wait("every viewer gone", lambda: not _viewers(web.pid), 5)
    assert collect.poll() is None and _flock_holders(lock_path(store)) == [collect.pid]


async def _moved(page: chromium.Page, old: str) -> bool:
    """The header's clock moves on: the page is live, not a picture of one moment."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if old not in (await page.screen_text()).splitlines()[0]:
            return True
        await asyncio.sleep(0.25)
    return False
