"""Untrusted text made harmless for a terminal, a Markdown file or a log line.

Anything that came from a remote host may carry escape sequences (OSC 52
writes the clipboard, CSI 2J clears the screen), C1 controls or bidi
overrides. ``clean`` replaces each with a visible escape such as ``\\e`` so
it is shown, never executed. The UI wraps the result in a Rich ``Text``
(opsdash/ui/safetext.py) so markup in it is never parsed either.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

# C0 controls, DEL, C1 controls (incl. the 8-bit CSI 0x9b), line/paragraph
# separators and bidi overrides that reorder what the reader sees.
_CONTROL_MULTILINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]"
)
_CONTROL_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]"
)
_NAMES = {"\x1b": "\\e", "\x07": "\\a", "\x08": "\\b", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x7f": "\\x7f"}


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    name = _NAMES.get(ch)
    if name:
        return name
    o = ord(ch)
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def to_str(value: object) -> str:
    """Any value as str; bytes decode as UTF-8 with replacement characters."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


# What json.dumps(..., ensure_ascii=False) leaves raw although a terminal acts on it:
# DEL, C1 controls (0x9b is an 8-bit CSI), line separators, bidi controls, BOM.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]")


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the control
    characters json leaves raw written as ``\\uXXXX`` escapes. Still the same JSON:
    those characters can only occur inside strings, where the escape means the same."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def clean(value: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """``value`` with every control character replaced by a visible escape.

    ``multiline`` keeps newlines and tabs (raw probe output); otherwise they
    are escaped too, so one remote value can never break a table row.
    """
    s = to_str(value)
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    return (_CONTROL_MULTILINE if multiline else _CONTROL_ONE_LINE).sub(_visible, s)


# --- output streams --------------------------------------------------------------------


def for_terminal(text: str) -> str:
    """Text on its way to a terminal: every control character but newline and tab,
    every ESC sequence and bidi control shown as a visible escape.

    Safe on JSON too: the characters ``json.dumps`` may leave raw (DEL, C1,
    bidi, separators) become ``\\uXXXX`` (``json_safe``), which mean the same
    inside a JSON string; the C0 controls ``clean`` escapes never occur raw in
    valid JSON. Idempotent: clean text (what ``clean`` returns) passes unchanged,
    so a field cleaned by its command is not escaped twice.
    """
    return clean(json_safe(text), multiline=True)


class TerminalWriter:
    """A text stream that passes everything written through ``for_terminal``.

    ``opsdash.cli.main`` puts one over stdout and stderr for every command
    but the TUI, so no command can forget to clean what it prints. There is
    no ``buffer``: bytes written there would bypass the cleaning.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, s: str) -> int:
        self._stream.write(for_terminal(s))
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            raise AttributeError("TerminalWriter has no buffer: write text, which is cleaned")
        return getattr(self._stream, name)


# --- URLs and secrets -------------------------------------------------------------------

# An HTTP token (RFC 9110), what a header name may be: config validates [endpoints] headers
# with it, and the curl config file that carries them to a remote vantage refuses anything else.
HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")


def without_userinfo(url: str) -> str:
    """The URL without ``user:password@`` (``https://u:pw@host/`` -> ``https://host/``).

    Callers want :func:`redact_url`, which also hides credential-like query values.
    """
    return _USERINFO.sub(r"\1", url)


# Query parameter names whose values are credentials (compared case-insensitively,
# with "-" and "_" ignored): AWS/GCS/Azure signed URLs, OAuth, API keys, passwords.
_SECRET_PARAM_EXACT = frozenset({
    "token", "accesstoken", "refreshtoken", "idtoken", "authtoken", "apitoken", "bearer",
    "key", "apikey", "appkey", "clientkey", "privatekey", "secretkey", "accesskey",
    "secret", "clientsecret", "apisecret",
    "password", "passwd", "pass", "pwd", "passphrase",
    "auth", "authorization", "credential", "credentials",
    "sig", "signature", "xamzsignature", "xamzcredential", "xamzsecuritytoken",
    "xgoogsignature", "xgoogcredential", "sessionid", "sid", "jwt",
})
# ... and any name containing one of these (x-api-key, oauth_token, my_secret, db_password).
_SECRET_PARAM_PARTS = ("token", "secret", "passw", "apikey", "signature", "credential")
REDACTED = "***"


def is_secret_param(name: str) -> bool:
    """True for a query parameter name that carries a credential (``token``, ``api_key``, ``X-Amz-Signature``)."""
    n = re.sub(r"[-_.\s]", "", name).lower()
    return n in _SECRET_PARAM_EXACT or any(p in n for p in _SECRET_PARAM_PARTS)


_QUERY_PAIR = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")


def redact_url(url: str) -> str:
    """The URL as it may be shown and stored: no ``user:password@``, and every
    credential-like query value (``?token=``, ``api_key``, ``sig``, ``X-Amz-Signature``
    ...) replaced by ``***``. Everything else stays byte for byte (no re-encoding)."""
    url = without_userinfo(url)
    q = url.find("?")
    if q < 0:
        return url
    frag = url.find("#", q)
    end = len(url) if frag < 0 else frag

    def hide(m: re.Match[str]) -> str:
        from urllib.parse import unquote

        name = unquote(m.group(2))
        return f"{m.group(1)}{m.group(2)}={REDACTED}" if m.group(3) and is_secret_param(name) else m.group(0)

    return url[:q] + _QUERY_PAIR.sub(hide, url[q:end]) + url[end:]


def url_secrets(url: str) -> list[str]:
    """The secret values a URL carries: its password and its credential-like query
    values, raw and percent-decoded (what :func:`redact` must hide if echoed back)."""
    from urllib.parse import unquote, urlsplit

    out: list[str] = []
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return out
    if password:
        out += [password, unquote(password)]
    for m in _QUERY_PAIR.finditer("?" + parts.query):
        if m.group(3) and is_secret_param(unquote(m.group(2))):
            out += [m.group(3), unquote(m.group(3).replace("+", " "))]
    return out


# Shorter than this, a "secret" would blank out ordinary words in the text around it.
_MIN_SECRET = 4


def redact(text: str | None, secrets: Iterable[str]) -> str | None:
    """``text`` with every occurrence of each secret value replaced by ``***`` (longest first,
    so a token inside a longer header value goes with it)."""
    if not text:
        return text
    for s in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    return text
