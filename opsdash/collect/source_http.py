"""HTTP for ``[[sources]]`` (Prometheus, Alertmanager): the client, and the one way to read a reply.

Every request a source makes goes through :func:`request_json` (or
:func:`request_body`): the body is streamed and read at most ``max_reply``
bytes (32 MiB by default, after decompression); past that the reply is
dropped with one error, ``reply over 32 MiB; dropped``, and the connection is
closed. No source reads a body whole.

Memory is bounded per source, not per request: a Prometheus poll sends its
queries concurrently, but one client reads (and parses) one body at a time
(the client's read lock), so a source that streams garbage to every query
holds one capped body, not one per query. Large bodies are parsed in a
thread so the event loop keeps running.

Compression: we ask for gzip (Prometheus compresses its API replies) and
inflate it ourselves with a bounded ``zlib`` object, so a small compressed
reply cannot inflate past the cap in one step (httpx's own decoder inflates
a whole network chunk at once: 64 KiB of gzip can be 64 MiB of text).

Secrets: bearer tokens and passwords are read from their file (or the
environment) when the client is made and only ever put in a request header.
No error message contains them, and URLs are shown without userinfo.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import zlib
from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from ..config import SourceConfig, format_size
from ..errors import ProbeError
from ..model import HOST_UNREACHABLE
from ..security import header_secrets, url_secrets
from ..textsafe import REDACTED, redact_url

REDACTED_BYTES = REDACTED.encode()

__all__ = [
    "Reply",
    "ReplyTooLarge",
    "SourceClient",
    "SourceDown",
    "check_status",
    "describe_http_error",
    "http_client",
    "request_body",
    "request_json",
    "safe_url",
]

# Bodies larger than this are parsed in a thread (json.loads of 32 MiB takes ~0.3 s).
PARSE_IN_THREAD = 1024 * 1024

safe_url = redact_url  # the name the sources use: no userinfo, no credential-like query values


class SourceDown(ProbeError):
    """The source cannot be reached, refused our credentials, or answered garbage."""


class ReplyTooLarge(SourceDown):
    """The reply's body is over the source's ``max_reply``: dropped unread past the cap."""


class SourceClient(httpx.AsyncClient):
    """An httpx client that knows its source: the cap, and one body read at a time."""

    def __init__(self, cfg: SourceConfig, **kw: Any):
        super().__init__(**kw)
        self.cfg = cfg
        self.read_lock = asyncio.Lock()
        self.secrets: list[bytes] = []  # cut out of every reply (see _scrub)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes | bytearray  # at most the source's max_reply bytes
    content_type: str

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _read_secret(path: str, what: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise SourceDown(f"cannot read {what} {path}: {e.strerror or type(e).__name__}", state="auth-failed") from None


def _secrets(headers: Mapping[str, str], url: str, basic: tuple[str, str] | None) -> list[bytes]:
    """Every credential a request to this source carries (the Authorization value and its
    token, the Basic-auth password and encoded value, the URL's credential-like query
    values), as the bytes a reply that echoes them would contain."""
    out = header_secrets({k: v for k, v in headers.items() if k == "Authorization"}) + url_secrets(url)
    if basic is not None:
        user, password = basic
        out += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    return sorted({s.encode() for s in out if len(s) >= 4}, key=len, reverse=True)


def _scrub(client: httpx.AsyncClient, body: bytearray | bytes) -> bytearray | bytes:
    """A reply with our own credentials cut out. A proxy or a debug handler that echoes
    the request head into an error body would otherwise put the token into an error
    message, the store and the screen; scrubbing the body, where every reply passes,
    covers every message built from it."""
    for secret in getattr(client, "secrets", ()):
        if secret in body:
            body = bytes(body).replace(secret, REDACTED_BYTES)
    return body


def http_client(cfg: SourceConfig) -> SourceClient:
    """An httpx client with the source's auth and TLS options. Use as ``async with``."""
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "User-Agent": "opsdash"}
    auth = None
    if cfg.bearer_token_file:
        headers["Authorization"] = "Bearer " + _read_secret(cfg.bearer_token_file, "bearer_token_file")
    elif cfg.bearer_token_env:
        tok = os.environ.get(cfg.bearer_token_env)
        if not tok:
            raise SourceDown(f"environment variable {cfg.bearer_token_env} (bearer_token_env) is not set",
                             state="auth-failed")
        headers["Authorization"] = "Bearer " + tok.strip()
    if cfg.username:
        password = _read_secret(cfg.password_file, "password_file") if cfg.password_file else ""
        auth = httpx.BasicAuth(cfg.username, password)
    verify: bool | ssl.SSLContext = cfg.verify_tls
    if cfg.verify_tls and cfg.ca_file:
        try:
            verify = ssl.create_default_context(cafile=os.path.expanduser(cfg.ca_file))
        except (OSError, ssl.SSLError) as e:
            raise SourceDown(f"cannot load ca_file {cfg.ca_file}: {getattr(e, 'strerror', None) or e}") from None
    client = SourceClient(
        cfg, base_url=cfg.url.rstrip("/"), headers=headers, auth=auth, verify=verify,
        timeout=httpx.Timeout(cfg.timeout), follow_redirects=False, trust_env=False,
    )
    client.secrets = _secrets(headers, cfg.url, (cfg.username, password) if cfg.username else None)
    return client


def describe_http_error(cfg: SourceConfig, e: Exception) -> SourceDown:
    """A transport error as a SourceDown with a state, and no secret in its text."""
    where = f"{cfg.kind} {cfg.name} ({safe_url(cfg.url)})"
    if isinstance(e, httpx.TimeoutException):
        return SourceDown(f"{where}: no reply within {cfg.timeout:g}s", state="timeout")
    if isinstance(e, httpx.ConnectError):
        msg = str(e) or "connection failed"
        if "CERTIFICATE" in msg.upper() or "SSL" in msg.upper():
            return SourceDown(f"{where}: TLS: {msg[:200]}", state="error")
        return SourceDown(f"{where}: {msg[:200]}", state=HOST_UNREACHABLE)
    if isinstance(e, httpx.HTTPError):
        return SourceDown(f"{where}: {type(e).__name__}: {str(e)[:200]}", state="error")
    return SourceDown(f"{where}: {type(e).__name__}", state="error")


def check_status(cfg: SourceConfig, r: httpx.Response | Reply) -> None:
    status = r.status if isinstance(r, Reply) else r.status_code
    if status in (401, 403):
        raise SourceDown(f"{cfg.kind} {cfg.name}: HTTP {status}: credentials refused", state="auth-failed")


class _Inflater:
    """Content-Encoding undone in bounded steps: never more than ``room + 1`` bytes out per call."""

    def __init__(self, cfg: SourceConfig, path: str, encoding: str):
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self._z = None
        elif enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib-wrapped (RFC 9110); auto-detect header
        else:
            raise SourceDown(f"{cfg.kind} {cfg.name}: {path}: reply in an encoding we did not ask for "
                             f"({encoding[:40]!r})", state="error")
        self._cfg, self._path = cfg, path

    def feed(self, data: bytes, room: int) -> bytes:
        if self._z is None:
            return data
        try:
            # At most room + 1 bytes: one byte past the cap is enough to know it is over.
            return self._z.decompress(data, room + 1)
        except zlib.error:
            raise SourceDown(f"{self._cfg.kind} {self._cfg.name}: {self._path}: corrupt compressed reply",
                             state="error") from None

    def finish(self, room: int) -> bytes:
        if self._z is None:
            return b""
        if not self._z.eof:
            raise SourceDown(f"{self._cfg.kind} {self._cfg.name}: {self._path}: truncated compressed reply",
                             state="error")
        return self._z.flush(room + 1)


def _too_large(cfg: SourceConfig, method: str, path: str) -> ReplyTooLarge:
    return ReplyTooLarge(f"{cfg.kind} {cfg.name}: {method} {path}: reply over {format_size(cfg.max_reply)}; dropped",
                         state="error")


async def _read_capped(cfg: SourceConfig, method: str, path: str, r: httpx.Response) -> bytearray:
    cap = cfg.max_reply
    declared = r.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and r.headers.get("content-encoding", "identity") == "identity":
        raise _too_large(cfg, method, path)  # said so up front: do not read a byte of it
    inflate = _Inflater(cfg, path, r.headers.get("content-encoding", ""))
    buf = bytearray()
    async for chunk in r.aiter_raw():
        buf += inflate.feed(chunk, cap - len(buf))
        if len(buf) > cap:
            break
    else:
        buf += inflate.finish(cap - len(buf))
    if len(buf) > cap:
        # Free the bytes before raising: the error's traceback keeps this frame (and a
        # poll keeps every query's error), so a kept buffer would be 32 MiB per query.
        del buf
        raise _too_large(cfg, method, path)
    return buf  # not bytes(buf): that would copy it


async def request_body(client: httpx.AsyncClient, cfg: SourceConfig, method: str, path: str, *,
                       params: Mapping[str, str] | None = None, json_body: Any = None) -> Reply:
    """One request; the body streamed and capped at ``cfg.max_reply``.

    Transport problems raise SourceDown (with a state); refused credentials raise
    SourceDown(auth-failed); a body over the cap raises ReplyTooLarge. Leaving the
    ``stream`` block closes the connection, so nothing past the cap is read."""
    return await _request(client, cfg, method, path, params, json_body, parse=False)


async def request_json(client: httpx.AsyncClient, cfg: SourceConfig, method: str, path: str, *,
                       params: Mapping[str, str] | None = None, json_body: Any = None) -> tuple[int, Any]:
    """``request_body`` then JSON: (HTTP status, document). Not JSON: SourceDown."""
    return await _request(client, cfg, method, path, params, json_body, parse=True)


async def _request(client: httpx.AsyncClient, cfg: SourceConfig, method: str, path: str,
                   params: Mapping[str, str] | None, json_body: Any, *, parse: bool) -> Any:
    lock = client.read_lock if isinstance(client, SourceClient) else asyncio.Lock()
    try:
        async with client.stream(method, path, params=params, json=json_body) as r:
            check_status(cfg, r)
            # Read and parse under the client's lock: one body (and its parse) in memory at a time.
            async with lock:
                body = _scrub(client, await _read_capped(cfg, method, path, r))
                reply = Reply(r.status_code, body, r.headers.get("content-type", ""))
                if not parse:
                    return reply
                return r.status_code, await _parse_json(cfg, method, path, reply)
    except httpx.HTTPError as e:
        raise describe_http_error(cfg, e) from None


async def _parse_json(cfg: SourceConfig, method: str, path: str, reply: Reply) -> Any:
    try:
        if len(reply.body) > PARSE_IN_THREAD:
            return await asyncio.to_thread(json.loads, reply.body)
        return json.loads(reply.body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise SourceDown(f"{cfg.kind} {cfg.name}: {method} {path}: HTTP {reply.status}, not a JSON reply",
                         state="error") from None
