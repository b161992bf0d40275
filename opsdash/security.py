"""Warnings about secrets other users on this machine could read.

``warn_world_readable_secrets(config)`` returns one line per finding:
- the config file is readable by group or others and names a secret file
  (``password_file``, ``bearer_token_file``) or holds a secret itself (an
  ``env`` value or endpoint header that looks like a password or token, a
  password in a URL);
- a secret file on this machine (a source's token or password file, a
  password file of a backup or cache on a ``local`` host) is readable by
  group or others.
Remote hosts' files are not checked: they are read over SSH, as that user.
Call it from ``check-config`` (print the lines) and at collector start (log them).
No I/O beyond ``os.stat``; nothing is read from a secret file.

``endpoint_secrets(url, headers)`` lists the secret values a request carries
(credential headers, a URL's password and credential-like query values), so
the one place HTTP results are built can scrub them from any error text
before it is stored or shown (textsafe.redact).
"""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit

from .config import Config
from .textsafe import clean, url_secrets

__all__ = ["endpoint_secrets", "header_secrets", "warn_world_readable_secrets"]

_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH", re.I)
_URL_PASSWORD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*:[^/@]+@")


def _others_can_read(path: Path) -> int | None:
    """The mode if group or others may read ``path``, else None (also when it does not exist)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return stat.S_IMODE(mode) if mode & (stat.S_IRGRP | stat.S_IROTH) else None


def _secret_refs(config: Config) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """([(key path, file, is_local_file)], [key paths of secrets written in the config itself])."""
    files: list[tuple[str, str, bool]] = []
    inline: list[str] = []
    for i, h in enumerate(config.hosts):
        for j, b in enumerate(h.backups):
            if b.password_file:
                files.append((f"hosts[{i}].backups[{j}].password_file", b.password_file, h.is_local))
            inline += [f"hosts[{i}].backups[{j}].env.{k}" for k, v in b.env.items() if v and _SECRET_NAME.search(k)]
        for j, c in enumerate(h.caches):
            if c.password_file:
                files.append((f"hosts[{i}].caches[{j}].password_file", c.password_file, h.is_local))
    for i, s in enumerate(config.sources):
        for key in ("bearer_token_file", "password_file"):
            if getattr(s, key):
                files.append((f"sources[{i}].{key}", getattr(s, key), True))
        if _URL_PASSWORD.match(s.url):
            inline.append(f"sources[{i}].url")
    for i, e in enumerate(config.endpoints):
        inline += [f"endpoints[{i}].headers.{k}" for k, v in e.headers.items() if v and _SECRET_NAME.search(k)]
        if _URL_PASSWORD.match(e.url):
            inline.append(f"endpoints[{i}].url")
    for i, n in enumerate(config.notify):  # [[notify]]: webhook headers, SMTP password
        if n.password_file:
            files.append((f"notify[{i}].password_file", n.password_file, True))
        inline += [f"notify[{i}].headers.{k}" for k, v in n.headers.items() if v and _SECRET_NAME.search(k)]
        if n.url and _URL_PASSWORD.match(n.url):
            inline.append(f"notify[{i}].url")
    return files, inline


def warn_world_readable_secrets(config: Config) -> list[str]:
    """One line per secret that users other than the owner could read (see the module doc)."""
    out: list[str] = []
    files, inline = _secret_refs(config)
    if config.path is not None:
        mode = _others_can_read(Path(config.path))
        if mode is not None and (files or inline):
            what = ", ".join([k for k, _, _ in files] + inline)
            out.append(
                f"{clean(config.path)}: readable by group/others (mode {mode:04o}) and names secrets ({clean(what)}); "
                f"run chmod 600 {clean(config.path)}"
            )
    for key, path, local in files:
        if not local:
            continue
        p = Path(os.path.expanduser(path))
        mode = _others_can_read(p)
        if mode is not None:
            out.append(f"{clean(p)}: {clean(key)} is readable by group/others (mode {mode:04o}); run chmod 600 {clean(p)}")
    return out


# --- secret values that must never be stored or shown ---------------------------------------

# Configured header values are secrets unless the header is one of these: an
# unknown header (X-Api-Key, X-Auth, Cookie, a vendor's own) is treated as one.
_PLAIN_HEADERS = frozenset({
    "host", "accept", "accept-encoding", "accept-language", "accept-charset", "user-agent", "content-type",
    "cache-control", "pragma", "connection", "range", "referer", "origin", "dnt", "te", "via",
    "x-requested-with", "x-forwarded-proto", "x-forwarded-host", "if-none-match", "if-modified-since",
    "if-match", "if-unmodified-since",
})


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The values of configured request headers that may be credentials, and for a
    ``Scheme credentials`` value (``Bearer abc``) the credentials alone as well, so an
    error body that echoes either form can be scrubbed (textsafe.redact)."""
    out: list[str] = []
    for name, value in headers.items():
        if name.lower() in _PLAIN_HEADERS or not value:
            continue
        out.append(value)
        scheme, _, cred = value.strip().partition(" ")
        if cred.strip():
            out.append(cred.strip())
    return out


def endpoint_secrets(url: str, headers: Mapping[str, str]) -> list[str]:
    """Every secret value a request to ``url`` with ``headers`` carries: header
    credentials, the URL's password and credential-like query values, and the
    Basic-auth header value built from ``user:password@``."""
    out = header_secrets(headers) + url_secrets(url)
    try:
        parts = urlsplit(url)
        if parts.username is not None and parts.password:
            basic = f"{unquote(parts.username)}:{unquote(parts.password)}".encode()
            out.append(base64.b64encode(basic).decode())
    except ValueError:
        pass
    return out
