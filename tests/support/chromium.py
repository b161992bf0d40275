"""Debian's /usr/bin/chromium, headless, driven over its DevTools protocol (CDP).

``--screenshot`` alone is not enough for a textual-serve page: the terminal
arrives over a websocket from a process that takes seconds to start, and
``--virtual-time-budget`` does not wait for real sockets. So the browser runs
with ``--remote-debugging-port=0`` and a test drives it with aiohttp's
websocket client (aiohttp is installed with textual-serve): open pages (tabs),
evaluate JavaScript, take screenshots.

Reading the screen: xterm.js draws on a canvas, so the page's DOM holds no
text. A script injected before the page's own (``HOOK``) keeps every xterm
``Terminal`` the page creates in ``window.__xterms``: the public Terminal's
constructor assigns ``this._addonManager``, and a setter of that name on
Object.prototype sees it once and gets out of the way. ``Page.screen_text``
reads the visible rows from the terminal's buffer: the text Chromium shows.

Network: loopback only. ``--host-resolver-rules`` makes every name but
127.0.0.1 unresolvable, and the background services that phone home are off.
The browser is stopped by PID.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"

HOOK = """
(() => {
  Object.defineProperty(Object.prototype, "_addonManager", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "_addonManager", {value, writable: true, configurable: true, enumerable: true});
      (window.__xterms = window.__xterms || []).push(this);
    },
  });
})();
"""

SCREEN_TEXT = """
(() => {
  const t = (window.__xterms || [])[0];
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let y = 0; y < t.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return {cols: t.cols, rows: t.rows, text: rows.join("\\n")};
})()
"""


def available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


class CDPError(Exception):
    pass


class Chromium:
    """One headless browser; ``async with Chromium(tmp) as browser: page = await browser.open(url)``."""

    def __init__(self, tmp: Path, *, width: int = 1600, height: int = 1000):
        self.dir = tmp / "chromium"
        self.width, self.height = width, height
        self.proc: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Chromium":
        self.dir.mkdir(parents=True, exist_ok=True)
        port_file = self.dir / "profile" / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        with open(self.dir / "chromium.log", "wb") as log:
            self.proc = subprocess.Popen(
                [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
                 "--remote-debugging-address=127.0.0.1", f"--user-data-dir={self.dir / 'profile'}",
                 f"--window-size={self.width},{self.height}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
                 "about:blank"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while not (port_file.exists() and len(port_file.read_text().split()) == 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                await self.close()
                raise CDPError(f"chromium did not start; see {self.dir / 'chromium.log'}")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the renderers go too
                self.proc.wait()
        shutil.rmtree(self.dir / "profile", ignore_errors=True)

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            fut = self._pending.pop(data.get("id", -1), None)
            if fut is not None and not fut.done():
                if "error" in data:
                    fut.set_exception(CDPError(f"{data['error'].get('message')}: {data['error'].get('data', '')}"))
                else:
                    fut.set_result(data.get("result", {}))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(CDPError("the DevTools connection closed"))

    async def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
                   timeout: float = 15.0) -> dict[str, Any]:
        assert self._ws is not None
        i = next(self._ids)
        msg: dict[str, Any] = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[i] = fut
        await self._ws.send_str(json.dumps(msg))
        return await asyncio.wait_for(fut, timeout)

    async def open(self, url: str) -> "Page":
        """A new tab on ``url``, with the xterm hook in place before the page's scripts run."""
        target = (await self.call("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self.call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        page = Page(self, target, session)
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
        await page.call("Page.navigate", {"url": url})
        return page


class Page:
    def __init__(self, browser: Chromium, target: str, session: str):
        self.browser, self.target, self.session = browser, target, session

    async def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return await self.browser.call(method, params, session=self.session, **kw)

    async def evaluate(self, expression: str) -> Any:
        r = await self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise CDPError(f"{expression[:60]!r}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    async def screen_text(self) -> str:
        """The terminal's visible rows as Chromium holds them ("" before the terminal exists)."""
        screen = await self.evaluate(SCREEN_TEXT)
        return screen["text"] if screen else ""

    async def wait_for_text(self, *needles: str, timeout: float = 20.0) -> str:
        """The screen text once it holds every needle; AssertionError with the last screen if not."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self.screen_text()
            if all(n in text for n in needles):
                return text
            await asyncio.sleep(0.25)
        missing = [n for n in needles if n not in text]
        if not await self.evaluate("(window.__xterms || []).length"):
            raise AssertionError(f"no xterm Terminal in the page after {timeout:g}s: HOOK did not see one "
                                 "(did textual-serve's xterm.js change?), or the page did not load")
        raise AssertionError(f"not on screen after {timeout:g}s: {missing}\n{text}")

    async def press(self, text: str) -> None:
        """Type ``text`` into the page (the terminal has the focus)."""
        await self.call("Input.insertText", {"text": text})

    async def screenshot(self, path: Path) -> Path:
        """A PNG of what the tab shows. The tab is brought to the front first: a background
        tab is not painted, and its screenshot is blank."""
        await self.call("Page.bringToFront")
        await asyncio.sleep(0.5)  # a frame or two to paint the canvas
        data = (await self.call("Page.captureScreenshot", {"format": "png"}))["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    async def close(self) -> None:
        await self.browser.call("Target.closeTarget", {"targetId": self.target})
