"""The wallboard's web server: textual-serve's Server, with one TabProcess per browser tab.

Here, in the UI layer, because textual-serve is Textual's: the command
(commands/web.py) checks its arguments, binds the socket and hands them over.
aiohttp and textual-serve are imported only when the server is built, so no
other command pays for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import re
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Callable

__all__ = ["QUIT_GRACE_S", "SHUTDOWN_TIMEOUT_S", "TITLE", "wallboard_server"]

TITLE = "opsdash wallboard"
# aiohttp waits this long for open tabs to close on SIGTERM/Ctrl+C (its default is 60 s).
SHUTDOWN_TIMEOUT_S = 5.0
# A closed tab's viewer gets SIGHUP, then SIGKILL by its PID if it has not gone after this.
QUIT_GRACE_S = 3.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> Callable[[], None]:
    """A tab's process gets SIGKILL when this server dies, however it dies (a kill -9 leaves
    no time to close websockets): prctl(PR_SET_PDEATHSIG) in the child before exec (looked up
    here, in the parent: the forked child only calls it), and a parent already gone by then
    is checked after. A viewer only reads the store: SIGKILL loses nothing. Linux only;
    elsewhere a tab's process still goes with its tab."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def wallboard_server(argv: list[str], host: str, port: int, url: str, origins: frozenset[str]) -> Any:
    """textual-serve's Server, with our AppService for each tab (built here: aiohttp is
    imported only by `opsdash web`, not by every command)."""
    import aiohttp_jinja2
    import jinja2
    from aiohttp import WSCloseCode, web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, log, to_int

    class TabProcess(AppService):
        """One tab's viewer: started without a shell, dying with the server, and stopped for
        sure when its tab goes (textual-serve's own stop() sends "quit" and waits for ever)."""

        async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
            self._process = process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._build_environment(width=width, height=height),
                preexec_fn=_die_with(os.getpid()),
            )
            assert process.stdin is not None
            self._stdin = process.stdin
            return process

        async def stop(self) -> None:
            # A closed tab is a hung-up terminal: SIGHUP, which the TUI answers by leaving at
            # once (OpsdashApp._hang_up; before its handler is in place, SIGHUP's default ends
            # it too). textual-serve's "quit" message instead runs Textual's whole shutdown
            # (2-3 s), and a TUI still starting can miss it and render on for nobody. One that
            # has not gone after QUIT_GRACE_S is killed by its PID: a viewer holds no lock and
            # writes nothing. Also when the tab went while its process was starting.
            task, process = self._task, self._process
            self._task = None
            if task is not None:
                await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGHUP)
                try:
                    await asyncio.wait_for(process.wait(), QUIT_GRACE_S)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()
                    log.info("a closed tab's viewer (PID %d) had not gone %gs after SIGHUP: killed", process.pid,
                             QUIT_GRACE_S)
            if task is not None:
                await task

    class WallboardServer(Server):
        """textual-serve's server on a socket bound beforehand; a page that loads nothing from
        the internet (the stock one fetches a font from Google); plain log lines."""

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.sockets: set[web.WebSocketResponse] = set()  # the open tabs

        def initialize_logging(self) -> None:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("opsdash web: %(message)s"))
            logging.basicConfig(level=logging.INFO, handlers=[handler])
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # a line per static file is noise
            # Said by textual-serve of every viewer that had not spoken yet when stopped, which
            # TabProcess.stop says better; a viewer that truly failed leaves its stderr in the log.
            log.addFilter(lambda record: record.getMessage() != "Application failed to start")

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            page = (Path(self.templates_path) / "app_index.html").read_text()
            page = re.sub(r"<link[^>]*fonts\.googleapis\.com[^>]*>", "", page, flags=re.S)
            aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": page}))
            return app

        async def on_startup(self, app: web.Application) -> None:
            pass  # run() said where it serves; textual-serve's banner would say it again

        async def on_shutdown(self, app: web.Application) -> None:
            # SIGTERM/Ctrl+C: close the tabs now, so each stops its viewer at once, rather
            # than aiohttp waiting its shutdown timeout for websockets that never end.
            await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"opsdash web stopped")
                                   for ws in list(self.sockets)), return_exceptions=True)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            # textual-serve 1.1's handle_websocket with TabProcess for its AppService, and
            # the pages allowed to open one (allowed_origins).
            origin = request.headers.get("Origin")
            if origin is not None and origin.rstrip("/").lower() not in origins:
                log.warning("refused a websocket from a page at %s (not this wallboard's)", origin[:200])
                raise web.HTTPForbidden(text="opsdash web: a page from another origin cannot open the wallboard\n")
            websocket = web.WebSocketResponse(heartbeat=15)
            self.sockets.add(websocket)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            tab: TabProcess | None = None
            try:
                await websocket.prepare(request)
                tab = TabProcess(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                 close=websocket.close, download_manager=self.download_manager, debug=self.debug)
                await tab.start(width, height)
                await self._process_messages(websocket, tab)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # noqa: BLE001 - one tab's failure is logged, the server goes on
                log.exception(error)
            finally:
                self.sockets.discard(websocket)
                if tab is not None:
                    await asyncio.shield(tab.stop())
            return websocket

        def serve_on(self, sock: socket.socket) -> None:
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_exit)
            web.run_app(self._make_app(), sock=sock, handle_signals=False, loop=loop, print=None,
                        shutdown_timeout=SHUTDOWN_TIMEOUT_S)

    return WallboardServer(shlex.join(argv), host=host, port=port, title=TITLE, public_url=url)
