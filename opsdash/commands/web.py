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
import errno
import ipaddress
import re
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..ui.web_server import wallboard_server
from . import _common

DEFAULT_LISTEN = "127.0.0.1:8080"


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
    server = wallboard_server(viewer_argv(args), host, port, url, allowed_origins(host, port, url))
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
