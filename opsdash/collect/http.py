"""HTTP probe: time to first byte and the phases before it, like ``curl -w``.

Times are cumulative milliseconds from the start of the probe, as curl's
``time_*`` variables are: dns, connect (TCP done), tls (handshake done),
ttfb (first response byte), total (body read). They are network time: the
connect, the first byte and the rest are stamped by the network backend under
httpx (http_timing.py), and our own work between the resolve and the connect
(building the request, httpx's pool) is not counted.

We resolve the name ourselves (that is the DNS phase), then connect to the
address we got, keeping the Host header and TLS SNI/verification on the
name: what ``curl --resolve`` does. By default every probe opens a fresh
connection, so TTFB is what a new visitor gets, not a warm keep-alive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from ..config import EndpointConfig
from ..model import HTTPResult, Phases
from ..stats import Window, percentile
from ..security import endpoint_secrets
from ..textsafe import redact, redact_url
from . import resolve
from .http_timing import MARKS, TimedBackend

# Read at most this much of a body: we time it, we do not keep it.
MAX_BODY_BYTES = 4 * 1024 * 1024


def cache_status(headers: httpx.Headers) -> str | None:
    """HIT / MISS / ... from the usual cache headers; Age > 0 alone counts as a HIT."""
    for name in ("x-cache-status", "cf-cache-status", "x-cache", "x-varnish-cache", "x-proxy-cache"):
        v = headers.get(name)
        if v:
            word = v.strip().split()[0].split(",")[0].upper() if v.strip() else ""
            return word[:16] or None
    age = headers.get("age")
    if age and age.strip().isdigit() and int(age) > 0:
        return "HIT"
    return None


def http_result(ep: EndpointConfig, vantage: str, t: float, *, ok: bool, status: int | None,
                phases: Phases | None, cache: str | None, error: str | None, state: str) -> HTTPResult:
    """The one way an HTTPResult is made, from this machine or a remote vantage.

    What is stored and shown of a request is its URL without credentials
    (``redact_url``) and an error text without any secret the request carried:
    a server, proxy or library error that echoes the Authorization header, a
    query token or the URL's password has those values replaced by ``***``.
    """
    if error:
        error = redact(error, endpoint_secrets(ep.url, ep.headers))
    return HTTPResult(ep.name, redact_url(ep.url), vantage, t, ok, status, phases, cache, error, state)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class HTTPProbe:
    """Probes endpoints from this machine. One instance per collector."""

    def __init__(self) -> None:
        self._clients: dict[tuple[bool, bool, str | None], httpx.AsyncClient] = {}

    def _client(self, verify: bool, fresh: bool, ca_file: str | None = None) -> httpx.AsyncClient:
        key = (verify, fresh, ca_file if verify else None)
        c = self._clients.get(key)
        if c is None:
            limits = httpx.Limits(max_keepalive_connections=0 if fresh else 20, max_connections=200)
            # An endpoint's ca_file (a private CA) instead of the system store; a bad file is an OSError/SSLError.
            v: bool | ssl.SSLContext = ssl.create_default_context(cafile=os.path.expanduser(key[2])) if key[2] else verify
            transport = httpx.AsyncHTTPTransport(verify=v, limits=limits, trust_env=False)
            # httpx names no way to give its pool a network backend: set httpcore's own attribute,
            # which the pool hands each new connection (http_timing.py says why).
            transport._pool._network_backend = TimedBackend()
            c = httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
            self._clients[key] = c
        return c

    async def warm_up(self) -> None:
        """Pay httpx/anyio's lazy imports and TLS context setup before the first timed probe.

        Without this the first probe of a process reads ~100 ms slow, which
        would poison a one-shot ``opsdash once`` reading.
        """
        for verify in (True, False):
            try:
                await self._client(verify, True).get("http://127.0.0.1:9/", timeout=1.0)
            except httpx.HTTPError:
                pass

    async def close(self) -> None:
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()

    async def probe(self, ep: EndpointConfig, now: float | None = None) -> HTTPResult:
        t_wall = time.time() if now is None else now
        marks: dict[str, float] = {}

        def ms(name: str) -> float | None:
            """A phase's end, cumulative: the network intervals up to it, added (http_timing.py).

            Our own work between them (building the request, httpx's pool, h11) is nobody's TTFB.
            """
            if name not in marks or "dns" not in marks:
                return None
            t = marks["dns"] - t0
            if name == "dns":
                return round(t * 1000, 3)
            if "connected" in marks:  # none on a kept-alive connection
                t += marks["connected"] - marks["connect_start"]
            if name == "connected":
                return round(t * 1000, 3)
            if "tls_done" in marks:
                t += marks["tls_done"] - marks["tls_start"]
            if name == "tls_done":
                return round(t * 1000, 3)
            if "first_byte" not in marks or "request_sent" not in marks:
                return None
            t += marks["first_byte"] - marks["request_sent"]
            if name == "total":
                t += marks["total"] - marks["first_byte"]
            return round(t * 1000, 3)

        token = MARKS.set(marks)  # the network backend stamps into it, in this task
        parts = urlsplit(ep.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        tried = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # named in a connect error
        try:
            async with asyncio.timeout(ep.timeout):
                # The clock starts at the name lookup (none for an address), as curl's does.
                t0 = time.perf_counter()
                if _is_ip(host):
                    addr = host
                else:
                    # in a daemon thread, not the loop's default executor: store writes use that (resolve.py)
                    infos = await resolve.getaddrinfo(host, port, ep.timeout)
                    addr = infos[0][4][0]
                marks["dns"] = time.perf_counter()
                if addr != host:
                    tried = f"{host} ({addr}) port {port}"
                netloc = (f"[{addr}]" if ":" in addr else addr) + (f":{parts.port}" if parts.port else "")
                url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
                headers = {"Host": parts.netloc.rpartition("@")[2], "User-Agent": "opsdash", **ep.headers}
                ext: dict[str, Any] = {}
                if parts.scheme == "https":
                    ext["sni_hostname"] = host
                client = self._client(ep.verify_tls, ep.fresh_connection, ep.ca_file)
                req = client.build_request(ep.method, url, headers=headers, extensions=ext)
                # The address replaced the name in the URL, and with it any user:password@.
                auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
                resp = await client.send(req, stream=True, auth=auth)
                try:
                    read = 0
                    async for chunk in resp.aiter_raw():
                        read += len(chunk)
                        if read >= MAX_BODY_BYTES:
                            break
                finally:
                    await resp.aclose()
                marks["total"] = time.perf_counter()
        except (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException):
            return self._failed(ep, t_wall, "timeout", f"no response within {ep.timeout:g}s", marks, ms)
        except socket.gaierror as e:
            return self._failed(ep, t_wall, "unreachable", f"cannot resolve {host}: {e.strerror}", marks, ms)
        except resolve.ResolveError as e:
            return self._failed(ep, t_wall, "unreachable", str(e), marks, ms)
        except httpx.ConnectError as e:
            cause = e.__cause__ or e.__context__
            text = str(e) or type(e).__name__
            if isinstance(cause, ssl.SSLError) or "SSL" in text or "certificate" in text.lower():
                return self._failed(ep, t_wall, "error", f"TLS: {text}", marks, ms)
            return self._failed(ep, t_wall, "unreachable", f"connect to {tried} failed: {text}", marks, ms)
        except (httpx.HTTPError, OSError) as e:
            return self._failed(ep, t_wall, "error", f"{type(e).__name__}: {e}", marks, ms)
        finally:
            MARKS.reset(token)

        phases = Phases(
            dns_ms=ms("dns"),
            connect_ms=ms("connected") if "connected" in marks else ms("dns"),  # a kept-alive connection: none
            tls_ms=ms("tls_done") or 0.0,
            ttfb_ms=ms("first_byte"),
            total_ms=ms("total"),
        )
        ok = resp.status_code in ep.expect_status
        return http_result(
            ep, "local", t_wall,
            ok=ok,
            status=resp.status_code,
            phases=phases,
            cache=cache_status(resp.headers),
            error=None if ok else f"status {resp.status_code}, expected {', '.join(map(str, ep.expect_status))}",
            state="ok" if ok else "bad-status",
        )

    @staticmethod
    def _failed(ep: EndpointConfig, t: float, state: str, error: str, marks: dict[str, float], ms: Any) -> HTTPResult:
        phases = Phases(ms("dns"), ms("connected"), ms("tls_done"), None, None)
        return http_result(ep, "local", t, ok=False, status=None, phases=phases, cache=None, error=error, state=state)


@dataclass
class EndpointWindow:
    """The percentile window of one endpoint from one vantage."""

    span: float
    ttfb: Window = field(init=False)
    outcomes: Window = field(init=False)  # 1.0 ok, 0.0 failed
    last: HTTPResult | None = None
    count: int = 0

    def __post_init__(self) -> None:
        self.ttfb = Window(self.span)
        self.outcomes = Window(self.span)

    def add(self, r: HTTPResult) -> None:
        self.last = r
        self.count += 1
        self.outcomes.add(r.t, 1.0 if r.ok else 0.0)
        if r.ok and r.ttfb_ms is not None:
            self.ttfb.add(r.t, r.ttfb_ms)

    def summary(self, now: float) -> dict[str, Any]:
        xs = sorted(self.ttfb.values(now))
        outs = self.outcomes.values(now)
        err = (1.0 - sum(outs) / len(outs)) if outs else None
        return {
            "samples": len(outs),
            "p50_ms": _r(percentile(xs, 50)),
            "p95_ms": _r(percentile(xs, 95)),
            "p99_ms": _r(percentile(xs, 99)),
            "error_rate": round(err, 4) if err is not None else None,
            "availability": round(100.0 * (1 - err), 3) if err is not None else None,
        }


def _r(v: float | None) -> float | None:
    return round(v, 3) if v is not None else None
