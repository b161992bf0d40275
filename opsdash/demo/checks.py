"""The demo fleet's DNS server and shop, for the [[dns]] and [[journeys]] checks.

Both run in the fleet process beside its SSH and HTTP servers, on loopback, and
answer from the story (``story.dns_answer``, ``story.checkout_broken``): the
api record goes stale after a "migration" for a while (dns-wrong-answer), and
the checkout journey's third step fails while the payment backend is down
(journey-failed), so the demo shows both kinds of check going bad and recovering.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Callable
from urllib.parse import parse_qs

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from . import story

__all__ = ["DNSResponder", "PASSWORD", "shop_handler"]

PASSWORD = "demo-synthetic"  # the journey's password_file holds it (config.py writes the file)


class DNSResponder(asyncio.DatagramProtocol):
    """A UDP DNS server answering A queries for the story's names."""

    def __init__(self, now: Callable[[], float]):
        self.now = now
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            q = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return  # not a query: no answer, as a real server would drop it
        r = dns.message.make_response(q)
        if q.question:
            qs = q.question[0]
            values = story.dns_answer(qs.name.to_text().rstrip(".").lower(), self.now())
            if values is None:
                r.set_rcode(dns.rcode.NXDOMAIN)
            elif qs.rdtype == dns.rdatatype.A and values:
                r.answer.append(dns.rrset.from_text(qs.name, 60, "IN", "A", *values))
        if self.transport is not None:
            self.transport.sendto(r.to_wire(), addr)


def shop_handler(now: Callable[[], float]) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]:
    """login (form, sets a session cookie, 302) -> cart (JSON id) -> checkout/<id> (JSON status)."""
    sessions: dict[str, str] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one journey's steps share the connection
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                n = int(headers.get("content-length") or 0)
                body = await reader.readexactly(min(n, 65536)) if n else b""
                status, extra, payload = await _route(method, path.split("?")[0], headers, body, sessions, now())
                data = payload.encode()
                writer.write(f"HTTP/1.1 {status} {_REASON.get(status, 'OK')}\r\nServer: opsdash-demo-shop\r\n"
                             f"Content-Length: {len(data)}\r\n{extra}\r\n".encode() + data)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    return handle


_REASON = {200: "OK", 302: "Found", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 503: "Service Unavailable"}


async def _route(method: str, path: str, headers: dict[str, str], body: bytes, sessions: dict[str, str],
                 t: float) -> tuple[int, str, str]:
    cookie = dict(p.strip().partition("=")[::2] for p in headers.get("cookie", "").split(";") if "=" in p)
    sid = cookie.get("session")
    cart = sessions.get(sid or "")
    js = "Content-Type: application/json\r\n"
    if method == "POST" and path == "/login":
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("user") != "synthetic" or form.get("password") != PASSWORD:
            return 401, "Content-Type: text/plain\r\n", "bad login\n"
        sid = secrets.token_hex(8)
        sessions[sid] = f"c-{secrets.token_hex(3)}"
        if len(sessions) > 1000:  # a long demo: forget the oldest carts
            for k in list(sessions)[:500]:
                del sessions[k]
        return 302, f"Location: /cart\r\nSet-Cookie: session={sid}; Path=/; HttpOnly\r\n", ""
    if method == "GET" and path == "/cart":
        if cart is None:
            return 302, "Location: /login\r\n", ""
        await asyncio.sleep(0.02)
        return 200, js, json.dumps({"id": cart, "title": "Your cart", "items": [{"sku": "tea", "qty": 2}]})
    if method == "POST" and path.startswith("/checkout/"):
        if cart is None or path.removeprefix("/checkout/") != cart:
            return 403, js, '{"status": "no such cart"}'
        await asyncio.sleep(story.endpoint_latency_ms("checkout", t) / 1000.0)
        if story.checkout_broken(t):
            return 503, js, '{"status": "payment backend unavailable"}'
        return 200, js, '{"status": "ok"}'
    return 404, "Content-Type: text/plain\r\n", "not found\n"
