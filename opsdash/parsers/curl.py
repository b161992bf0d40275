"""curl ``--write-out`` timing -> phases, status, remote address, exit code.

We run curl on a remote vantage with our own write-out format,
``CURL_WRITE_OUT``: one ``key=value`` per line (the shape of
tests/fixtures/curl-w-timing.txt). ``%{json}`` output is read as well.

curl's time_* values are seconds, cumulative from the start of the request;
``0`` means the phase was never reached (connection refused, TLS failure, or
no TLS at all for time_appconnect), so it becomes ``None``, never 0 ms.
Numbers may come as ``0,000021`` (a locale with decimal commas) or
``3.1e-05`` (``%{json}``).

``curl_command`` builds the command line and a curl config for its stdin
(``-K -``). The command line holds only options that are no secret; the URL
(without ``user:password@``), the credentials (``user = "u:p"``, percent-decoded,
as the local probe sends them) and the headers go in the config, so nobody
on the vantage host reads them with ``ps``. Every value on the command line
passes through shlex.quote; every value in the config is double-quoted, with
backslash, double quote, tab, newline, CR and VT backslash-escaped as curl's
config syntax asks.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple
from urllib.parse import unquote

from ..errors import ParseError
from ..model import Phases
from ..textsafe import HTTP_TOKEN

__all__ = [
    "CURL_WRITE_OUT",
    "CurlCommand",
    "CurlResult",
    "cache_status_from_headers",
    "curl_command",
    "parse_curl",
    "parse_curl_json",
    "parse_curl_write_out",
]

_KEYS = (
    "time_namelookup",
    "time_connect",
    "time_appconnect",
    "time_pretransfer",
    "time_redirect",
    "time_starttransfer",
    "time_total",
    "http_code",
    "size_download",
    "remote_ip",
    "exitcode",  # curl >= 7.75; older curl leaves it empty and the caller passes rc
)
# Response headers that say whether a cache answered, in the order the local
# HTTP probe (collect/http.py) reads them. %header{} needs curl >= 7.84;
# older curl prints the placeholder itself, which is read as "absent".
_CACHE_HEADERS = ("x-cache-status", "cf-cache-status", "x-cache", "x-varnish-cache", "x-proxy-cache", "age")
_HEADER_KEYS = {"hdr_" + h.replace("-", "_"): h for h in _CACHE_HEADERS}
# curl expands \n itself; the string is single-quoted on the command line.
CURL_WRITE_OUT = "".join(f"{k}=%{{{k}}}\\n" for k in _KEYS) + "".join(
    f"{k}=%header{{{h}}}\\n" for k, h in _HEADER_KEYS.items()
)

_NUMBER_RE = re.compile(r"^[0-9]+(?:[.,][0-9]+)?(?:[eE][-+]?[0-9]+)?$")

# What an exit code means for the dashboard: (state, message).
_CURL_ERRORS = {
    5: ("unreachable", "could not resolve proxy"),
    6: ("unreachable", "could not resolve host"),
    7: ("unreachable", "could not connect (refused or unreachable)"),
    28: ("timeout", "timed out"),
    35: ("error", "TLS handshake failed"),
    47: ("error", "too many redirects"),
    52: ("error", "empty reply from server"),
    56: ("error", "connection reset while receiving"),
    60: ("error", "TLS certificate not trusted"),
}


@dataclass(frozen=True, slots=True)
class CurlResult:
    phases: Phases
    status: int | None  # None: no HTTP response ("000")
    remote_ip: str | None
    exit_code: int
    size_download: int | None = None
    cache: str | None = None  # HIT / MISS / ... from the response's cache headers

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.status is not None

    @property
    def state(self) -> str:
        """ok | unreachable | timeout | error (HTTPResult.state, before status checks)."""
        if self.exit_code == 0:
            return "ok" if self.status is not None else "error"
        return _CURL_ERRORS.get(self.exit_code, ("error", ""))[0]

    @property
    def error(self) -> str | None:
        if self.exit_code == 0:
            return None if self.status is not None else "no HTTP response"
        what = _CURL_ERRORS.get(self.exit_code, ("error", "request failed"))[1]
        return f"curl exit {self.exit_code}: {what}"


def _seconds_to_ms(value: Any, key: str, line: str | None) -> float | None:
    if isinstance(value, bool):
        raise ParseError(f"curl {key} is not a number", line)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        if not _NUMBER_RE.match(text):
            raise ParseError(f"curl {key} is not a number", line)
        seconds = float(text.replace(",", "."))
    # 0 means curl never reached this phase.
    return round(seconds * 1000.0, 3) if seconds > 0 else None


def _int_or_none(value: Any, key: str, line: str | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ParseError(f"curl {key} is not an integer", line)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: inf from %{json}
        raise ParseError(f"curl {key} is not an integer", line) from None


def cache_status_from_headers(headers: Mapping[str, str]) -> str | None:
    """HIT / MISS / ... from lower-case header names; Age > 0 alone counts as a HIT.

    Same rules as collect/http.py's cache_status, so both vantages agree.
    """
    for name in _CACHE_HEADERS[:-1]:
        value = (headers.get(name) or "").strip()
        if value:
            return value.split()[0].split(",")[0].upper()[:16] or None
    age = (headers.get("age") or "").strip().split(",")[0].strip()
    return "HIT" if re.fullmatch(r"[0-9]{1,18}", age) and int(age) > 0 else None  # not isdigit(): "²" is a digit


def _result(
    values: Mapping[str, Any],
    lines: Mapping[str, str | None],
    rc: int | None,
    headers: Mapping[str, str] | None = None,
) -> CurlResult:
    missing = [k for k in ("time_namelookup", "time_connect", "time_starttransfer", "time_total", "http_code") if k not in values]
    if missing:
        raise ParseError("curl write-out has no " + ", ".join(missing))

    def ms(key: str) -> float | None:
        return _seconds_to_ms(values.get(key, 0), key, lines.get(key))

    status = _int_or_none(values.get("http_code"), "http_code", lines.get("http_code"))
    exit_code = _int_or_none(values.get("exitcode"), "exitcode", lines.get("exitcode"))
    if exit_code is None:
        exit_code = rc if rc is not None else 0
    elif rc is not None and rc != 0 and exit_code == 0:
        exit_code = rc  # the process status wins when curl's own says "fine"
    remote_ip = values.get("remote_ip") or None
    return CurlResult(
        phases=Phases(
            dns_ms=ms("time_namelookup"),
            connect_ms=ms("time_connect"),
            tls_ms=ms("time_appconnect"),
            ttfb_ms=ms("time_starttransfer"),
            total_ms=ms("time_total"),
        ),
        status=status or None,  # "000": no response
        remote_ip=str(remote_ip) if remote_ip else None,
        exit_code=exit_code,
        size_download=_int_or_none(values.get("size_download"), "size_download", lines.get("size_download")),
        cache=cache_status_from_headers(headers or {}),
    )


def parse_curl_write_out(text: str, rc: int | None = None) -> CurlResult:
    """Output of ``curl -w CURL_WRITE_OUT``; ``rc`` is curl's exit status."""
    values: dict[str, str] = {}
    lines: dict[str, str | None] = {}
    headers: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if sep and key in _HEADER_KEYS:
            if not value.startswith("%header{"):  # curl < 7.84 echoes the placeholder
                headers[_HEADER_KEYS[key]] = value
            continue
        if not sep or key not in _KEYS:
            raise ParseError("not a curl write-out line", raw, lineno)
        values[key] = value
        lines[key] = raw
    return _result(values, lines, rc, headers)


def parse_curl_json(text: str, rc: int | None = None) -> CurlResult:
    """Output of ``curl -w '%{json}'``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(f"curl %{{json}} output is not JSON: {e.msg}", text[:120]) from None
    except (ValueError, RecursionError) as e:  # a 4300+ digit number, or nesting too deep
        raise ParseError(f"curl %{{json}} output is not JSON we can read ({type(e).__name__})", text[:120]) from None
    if not isinstance(doc, dict):
        raise ParseError("curl %{json} output is not an object", text[:120])
    values = {k: doc[k] for k in _KEYS if k in doc and doc[k] is not None}
    lines = {k: f'"{k}": {json.dumps(doc[k])}' for k in values}
    return _result(values, lines, rc)


def parse_curl(text: str, rc: int | None = None) -> CurlResult:
    """Either form, told apart by the opening brace."""
    if text.lstrip().startswith("{"):
        return parse_curl_json(text, rc)
    return parse_curl_write_out(text, rc)



class CurlCommand(NamedTuple):
    """What runs on the vantage: ``command`` for the shell, ``stdin`` for curl's ``-K -``."""

    command: str
    stdin: str


# The URL's authority: everything between "scheme://" and the first / ? or #.
_AUTHORITY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)")
_CONFIG_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r", "\v": "\\v"}


def _config_line(option: str, value: str) -> str:
    """``option = "value"`` for a curl config file (man curl, -K, --config).

    Inside double quotes curl knows ``\\\\ \\" \\t \\n \\r \\v`` and drops a
    backslash before anything else, so escaping those six keeps every value
    on its own line and byte for byte. curl reads C strings: a NUL would cut
    the value short, so it is refused.
    """
    if "\0" in value:
        raise ValueError(f"a NUL byte cannot be passed to curl ({option})")
    return f'{option} = "' + "".join(_CONFIG_ESCAPES.get(c, c) for c in value) + '"\n'


def _split_userinfo(url: str) -> tuple[str, str | None]:
    """(the URL without ``user:password@``, ``"user:password"`` percent-decoded or None).

    The last ``@`` of the authority ends the userinfo, as urlsplit and the
    local probe (collect/http.py) read it. A user without a password gets an
    empty one: a bare ``user`` would make curl prompt for it.
    """
    m = _AUTHORITY.match(url)
    if not m or "@" not in m.group(2):
        return url, None
    userinfo, _, hostport = m.group(2).rpartition("@")
    user, _, password = userinfo.partition(":")
    return m.group(1) + hostport + url[m.end():], f"{unquote(user)}:{unquote(password)}"


def curl_command(
    url: str,
    *,
    timeout: float,
    verify_tls: bool = True,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    ca_pem: str | None = None,
) -> CurlCommand:
    """A shell command that times one request to ``url`` and prints CURL_WRITE_OUT,
    and the curl config it reads from stdin (pass it as the run's ``input``).

    The body goes to /dev/null; errors go to stderr (``-sS``), never mixed
    into the write-out. LC_ALL=C keeps decimals as dots where curl follows
    the locale. The URL, credentials and headers are only in the config.
    ``ca_pem``: the endpoint's private CA bundle (its ca_file's text), which curl on
    the vantage verifies against instead of the host's store; curl reads a CA only
    from a file, so it goes to a mode-700 temp directory that a trap removes (and the
    remote runner's TERM on timeout runs the trap).
    """
    method = method.upper()
    if not re.fullmatch(r"[A-Z]+", method):
        raise ValueError(f"not an HTTP method: {method!r}")
    args = ["curl", "-sS", "-o", "/dev/null", "--max-time", f"{timeout:g}", "--proto", "=http,https"]
    if not verify_tls:
        args.append("-k")
    if method == "HEAD":
        args.append("--head")  # -X HEAD would wait for a body that never comes
    elif method != "GET":
        args += ["-X", method]
    # --globoff: [ ] { } in a URL are the URL's, as for the local probe, not curl's ranges.
    args += ["--globoff", "-w", CURL_WRITE_OUT, "-K", "-"]
    bare_url, user = _split_userinfo(url)
    config = [_config_line("url", bare_url)]
    if user is not None:
        config.append(_config_line("user", user))
    for name, value in (headers or {}).items():
        if not HTTP_TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
            raise ValueError(f"not a valid HTTP header: {name!r}")
        config.append(_config_line("header", f"{name}: {value}"))
    if ca_pem is None or not verify_tls:
        return CurlCommand("LC_ALL=C " + " ".join(shlex.quote(a) for a in args), "".join(config))
    args[-2:-2] = ["--cacert", '"$d/ca.pem"']  # before -K -; the one unquoted (expanded) argument
    curl = "LC_ALL=C " + " ".join(a if a == '"$d/ca.pem"' else shlex.quote(a) for a in args)
    script = ("umask 077; d=$(mktemp -d) || exit 97; trap 'rm -rf \"$d\"' EXIT; trap 'exit 143' HUP INT TERM; "
              f"printf '%s' {shlex.quote(ca_pem)} > \"$d/ca.pem\" && {curl}")
    return CurlCommand(script, "".join(config))
