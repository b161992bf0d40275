"""`opsdash web`: the TUI in a browser, for a wallboard (textual-serve).

textual-serve (an aiohttp server) starts one process per browser tab and
relays its terminal over a websocket to xterm.js in the page. Ours is
``opsdash run --no-collector --read-only`` over the same config and store:

- a tab costs a viewer, never a poller. ``--no-collector`` means the tab's TUI
  never embeds a collector and never takes the store's collector lock
  (collector_lock.py), not even when the collector stops: N tabs leave exactly
  the one collector the user runs (`opsdash collect`), or none;
- ``--read-only`` (unless ``--allow-actions``): acks, silences, unsilences,
  escalations, notes and writing the handover are refused on screen
  (``OpsdashApp.refused``), and the theme is not saved to the config;
- a tab's process goes with its tab (SIGHUP, the TUI's hang-up; killed by PID
  if it has not gone within QUIT_GRACE_S) and with the server (PR_SET_PDEATHSIG,
  even after a kill -9 that left no time to close the websockets): no viewer
  renders on for nobody.

No authentication: it binds to loopback by default; anything wider belongs
behind a reverse proxy that authenticates (docs/cli.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import ipaddress
import logging
import os
import re
import shlex
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from . import _common

DEFAULT_LISTEN = "127.0.0.1:8080"
TITLE = "opsdash wallboard"
# aiohttp waits this long for open tabs to close on SIGTERM/Ctrl+C (its default is 60 s).
SHUTDOWN_TIMEOUT_S = 5.0
# A closed tab's viewer gets SIGHUP, then SIGKILL by its PID if it has not gone after this.
QUIT_GRACE_S = 3.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "web", parents=[common], help="serve the TUI to browsers as a read-only wallboard",
        description="Serve the TUI over HTTP (textual-serve): each browser tab runs its own read-only viewer of the "
                    "store, never a collector. Run `opsdash collect` beside it to keep the store live. There is no "
                    "authentication: keep the default loopback address, or put it behind a reverse proxy that "
                    "authenticates.",
    )
    p.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                   help=f"address to serve on (default {DEFAULT_LISTEN}; [::1]:8080 for IPv6)")
    p.add_argument("--allow-actions", action="store_true",
                   help="let the browser ack, silence, escalate and write notes (default: refused, read-only)")
    p.add_argument("--public-url", metavar="URL",
                   help="the URL browsers reach this at, behind a reverse proxy (default: http://HOST:PORT)")
    p.set_defaults(func=run)


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` or ``[::1]:8080`` -> (host, port). A host is required: serving on
    every interface is said out loud (``0.0.0.0:8080``), never the default of an empty one."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:  # an IPv6 address without brackets: the port is ambiguous
        host = ""
    if not sep or not host or "[" in host or "]" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _common.bad_argument("--listen", f'expected HOST:PORT, like 127.0.0.1:8080 or [::1]:8080, got "{text}"')
    return host, int(port)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is served, so a port in use is one line now."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise _common.bad_argument("--listen", f"{where}: cannot resolve {host!r}: {e.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR: a restart is not refused by the last run's TIME_WAIT sockets; it never
        # lets two listeners share a port (that is SO_REUSEPORT, not set).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        why = {
            errno.EADDRINUSE: "the port is in use (another opsdash web, or another server?)",
            errno.EADDRNOTAVAIL: "not an address of this machine",
            errno.EACCES: "permission denied (ports below 1024 need privileges)",
        }.get(e.errno or 0, e.strerror or str(e))
        raise _common.bad_argument("--listen", f"{where}: cannot listen: {why}") from None
    sock.setblocking(False)
    return sock


def viewer_argv(args: argparse.Namespace) -> list[str]:
    """What each tab runs: a viewer of this config and store that never collects."""
    argv = [sys.executable, "-m", "opsdash", "run", "--no-collector"]
    if not args.allow_actions:
        argv.append("--read-only")
    if getattr(args, "config", None):
        argv += ["--config", str(_common.config_path(args).resolve())]
    argv += ["--store", str(_common.store_path(args).resolve())]
    return argv


def public_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::"):  # every interface: a browser elsewhere reaches it by this machine's name
        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(args: argparse.Namespace) -> int:
    host, port = parse_listen(args.listen)
    _common.load(args)  # a broken config is its lines now, not a crashed session in every tab
    store = _common.store_path(args)
    url = check_public_url(args.public_url) if args.public_url else public_url(host, port)
    sock = bind(host, port)
    server = _server(viewer_argv(args), host, port, url, allowed_origins(host, port, url))
    mode = "actions allowed" if args.allow_actions else "read-only"
    print(f"opsdash web: serving the wallboard ({mode}) of {store} on {url}; no authentication", file=sys.stderr)
    _say_if_nothing_collects(store)
    if not _loopback(host):
        print(f"opsdash web: {args.listen} is reachable from other machines and asks for no password; "
              "put it behind a reverse proxy that authenticates", file=sys.stderr)
    server.serve_on(sock)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return False


def allowed_origins(host: str, port: int, url: str) -> frozenset[str]:
    """The pages that may open a tab's websocket: this wallboard's own (``url``), and for a
    loopback address its other loopback names. A websocket is not held to the same-origin
    policy, so without this check any web page the user visits could open one to
    127.0.0.1:8080 and read the fleet (or, with --allow-actions, silence it), directly or
    through a DNS name rebound to 127.0.0.1. Browsers always send Origin; other clients
    (curl, a test) are not that attack and need not."""
    parts = urlsplit(url)
    origins = {f"{parts.scheme}://{parts.netloc}".lower()}
    names = {host, "localhost", "127.0.0.1", "::1"} if _loopback(host) else {host}
    for name in names:
        netloc = f"[{name}]" if ":" in name else name
        origins.add(f"http://{netloc}:{port}".lower())
        if port == 80:
            origins.add(f"http://{netloc}".lower())
    return frozenset(origins)


def check_public_url(url: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
        raise _common.bad_argument("--public-url", f'expected http(s)://HOST[:PORT][/PATH], got "{url}"')
    return url.rstrip("/")


def _say_if_nothing_collects(store: Path) -> None:
    """The wallboard never collects: with no live collector on the store it shows the last
    state written, and one line says so (as the TUI's header does). Asked of the store's
    heartbeat, as the header asks it, never by trying the collector lock: a viewer that took
    the lock for a moment could make a starting `opsdash collect` refuse."""
    from ..errors import StoreError
    from ..store import Store

    if store.exists():
        try:
            with Store(store, readonly=True) as s:
                if s.collector_running(time.time()):
                    return
        except StoreError:  # being created by a collector starting now, or not a store: the tabs say which
            return
        what = f"no collector writes {store}"
    else:
        what = f"no store at {store} yet"
    print(f"opsdash web: {what}: run `opsdash collect` beside this so the wallboard stays live", file=sys.stderr)


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


def _server(argv: list[str], host: str, port: int, url: str, origins: frozenset[str]) -> Any:
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
