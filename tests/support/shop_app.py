"""A small real web shop for journey tests: log in, open the cart, check out.

A stdlib ThreadingHTTPServer on 127.0.0.1 (a free port) in a thread, stopped by
``stop()``. Routes:

- ``POST /login`` (form ``user``, ``password``): right password -> 302 to /cart with a
  ``session`` cookie; wrong -> 401.
- ``GET /cart`` (needs the cookie): JSON ``{"id": "c-<n>", "items": [...], "title": "Your cart"}``.
- ``POST /checkout/<cart_id>`` (needs the cookie, and the id of this session's cart):
  ``{"status": "ok", "order": ...}``; 500 while ``broken_checkout`` is set.
- ``GET /echo`` : the request's body and query echoed as text (to test scrubbing).
- ``GET /deep``, ``GET /big``: hostile replies (JSON nested 200 000 deep, a 3 MiB body).

Every request sleeps ``delay_s`` first, so step timings are large next to the
client's own overhead.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["JourneyContext", "ShopApp", "checkout_steps_toml"]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # a client that left (a timeout) is no error


class ShopApp:
    def __init__(self, password: str = "s3cret-Pa55", delay_s: float = 0.03):
        self.password = password
        self.delay_s = delay_s
        self.broken_checkout = False
        self.sessions: dict[str, str] = {}  # session cookie -> its cart id
        self.orders: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) in order
        self._lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are two writes: without this, Nagle and the client's delayed ACK
            # add ~40 ms to every reply, a delay that is the test server's, not the step's
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # quiet tests
                pass

            def do_GET(self) -> None:
                app._handle(self, "GET")

            def do_POST(self) -> None:
                app._handle(self, "POST")

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="shop-app", daemon=True)

    def start(self) -> "ShopApp":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> "ShopApp":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the routes

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        time.sleep(self.delay_s)
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        u = urlsplit(h.path)
        with self._lock:
            self.requests.append((method, u.path))
        session = self._session(h)
        if method == "POST" and u.path == "/login":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("user") != "synthetic" or form.get("password") != self.password:
                return self._send(h, 401, b"bad login\n", "text/plain")
            sid = secrets.token_hex(8)
            with self._lock:
                self.sessions[sid] = f"c-{secrets.token_hex(4)}"
            return self._send(h, 302, b"", "text/plain",
                              {"Location": "/cart", "Set-Cookie": f"session={sid}; Path=/; HttpOnly"})
        if method == "GET" and u.path == "/cart":
            if session is None:
                return self._send(h, 302, b"", "text/plain", {"Location": "/login"})
            doc = {"id": self.sessions[session], "title": "Your cart", "items": [{"sku": "tea", "qty": 2}]}
            return self._send(h, 200, json.dumps(doc).encode(), "application/json")
        if method == "POST" and u.path.startswith("/checkout/"):
            if session is None:
                return self._send(h, 403, b'{"status": "no session"}', "application/json")
            if self.broken_checkout:
                return self._send(h, 500, b"Internal Server Error\n", "text/plain")
            if u.path.removeprefix("/checkout/") != self.sessions[session]:
                return self._send(h, 404, b'{"status": "no such cart"}', "application/json")
            order = f"o-{len(self.orders) + 1}"
            with self._lock:
                self.orders.append(order)
            return self._send(h, 200, json.dumps({"status": "ok", "order": order}).encode(), "application/json")
        if u.path == "/deep":  # hostile: nested deeper than any JSON parser goes
            return self._send(h, 200, b"[" * 200_000, "application/json")
        if u.path == "/big":  # hostile: more body than a step reads
            return self._send(h, 200, b"x" * (3 << 20), "text/plain")
        if u.path == "/echo":
            return self._send(h, 200, b"you sent: " + body + b" query: " + u.query.encode(), "text/plain")
        return self._send(h, 404, b"not found\n", "text/plain")

    def _session(self, h: BaseHTTPRequestHandler) -> str | None:
        for part in (h.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "session" and v in self.sessions:
                return v
        return None

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)


class JourneyContext:
    """The ProbeContext a journey probe sees (kinds/base.py), without a collector: a real
    clock, rows kept in memory for ``previous``, files read off the loop."""

    def __init__(self, runners: dict | None = None) -> None:
        self.rows: dict[tuple[str, str, str], dict] = {}
        self.runners = runners or {}  # vantage -> a collect runner (SSHHost): the one remote runner
        self.scripts: list[str] = []  # every script sent, to check what a vantage got

    def clock(self) -> float:
        return time.time()

    async def run_script(self, vantage: str, body: str, timeout: float):
        from opsdash.kinds.sections import run_script

        self.scripts.append(body)
        return await run_script(self.runners[vantage], body, timeout=timeout)

    async def previous(self, kind: str, target: str, name: str) -> dict | None:
        return self.rows.get((kind, target, name))

    async def read_file(self, path: str, max_bytes: int = 65536) -> bytes:
        import asyncio
        from pathlib import Path

        return (await asyncio.to_thread(Path(path).read_bytes))[:max_bytes]

    async def probe(self, kind, check, vantage: str = "local"):
        """Probe once and keep the row, as the collector does."""
        row = await kind.probe(check, vantage, self)
        self.rows[(kind.name, check.name, vantage)] = row.to_json()
        return row


def checkout_steps_toml(shop: ShopApp, secret: object) -> str:
    """The [[journeys.steps]] of login -> cart -> checkout against ``shop``, the password
    read from the file ``secret``: what the collect-level tests configure."""
    return f'''  [[journeys.steps]]
  name = "login"
  method = "POST"
  url = "{shop.url}/login"
  form = {{ user = "synthetic", password_file = "{secret}" }}
  expect_status = [302]
  [[journeys.steps]]
  name = "cart"
  url = "{shop.url}/cart"
  expect_body = "Your cart"
  extract = {{ cart_id = "json:$.id" }}
  [[journeys.steps]]
  name = "checkout"
  method = "POST"
  url = "{shop.url}/checkout/{{cart_id}}"
  expect_json = {{ "$.status" = "ok" }}
'''
