"""A journey step from a remote vantage: the curl config it runs with, and the headers it got back.

Pure text in and out. ``step_config`` writes a curl config file (``curl -K``)
for one step, so the URL, the headers and the form (secrets are only named,
``field@file``) never reach curl's command line, where ``ps`` on the vantage
would show them. Paths in it are relative: the script runs curl inside its
own temp dir. ``parse_headers`` reads curl's ``--dump-header`` file: the last
response's status and headers (a ``100 Continue`` block comes first), and
skips lines that are not headers rather than failing the step on them.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import ParseError

__all__ = ["config_line", "parse_headers", "step_config"]

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r", "\v": "\\v"}
_STATUS = re.compile(r"^HTTP/[0-9.]+ +([0-9]{3})\b")
_HEADER = re.compile(r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$")
MAX_HEADERS = 200


def config_line(option: str, value: str | None = None) -> str:
    """``option = "value"`` (or a bare flag) for a curl config file. curl knows the six
    escapes used here inside double quotes; a NUL would cut the value, so it is refused."""
    if value is None:
        return option + "\n"
    if "\0" in value:
        raise ValueError(f"a NUL byte cannot be passed to curl ({option})")
    return f'{option} = "' + "".join(_ESCAPES.get(c, c) for c in value) + '"\n'


def step_config(*, url: str, method: str, headers: Iterable[tuple[str, str]], write_out: str,
                max_time: float, form: Iterable[tuple[str, str | None, str | None]] | None = None,
                json_file: str | None = None, insecure: bool = False, cacert: str | None = None) -> str:
    """The config of one step. ``form``: (field, value, file) with exactly one of value and
    file set; a file's content is sent URL-encoded (curl ``--data-urlencode field@file``)."""
    out = [
        config_line("url", url), config_line("request", method), config_line("silent"),
        config_line("show-error"), config_line("proto", "=http,https"),
        config_line("max-time", f"{max(max_time, 0.001):.3f}"),
        config_line("cookie", "jar"), config_line("cookie-jar", "jar"),
        config_line("dump-header", "head"), config_line("output", "body"),
        config_line("write-out", write_out),
    ]
    for k, v in headers:
        out.append(config_line("header", f"{k}: {v}"))
    for field, value, file in form or ():
        out.append(config_line("data-urlencode", f"{field}@{file}" if file is not None else f"{field}={value}"))
    if json_file is not None:
        out.append(config_line("data-binary", "@" + json_file))
    if insecure:
        out.append(config_line("insecure"))
    if cacert is not None:
        out.append(config_line("cacert", cacert))
    return "".join(out)


def parse_headers(text: str) -> tuple[int, list[tuple[str, str]]]:
    """(status, [(name, value)]) of the last response in a ``--dump-header`` file.
    ParseError when it holds no status line at all."""
    status: int | None = None
    headers: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _STATUS.match(line)
        if m:
            status, headers = int(m.group(1)), []  # a new response: the last one counts
            continue
        h = _HEADER.match(line)
        if h and status is not None and len(headers) < MAX_HEADERS:
            headers.append((h.group(1), h.group(2)))
    if status is None:
        raise ParseError("no HTTP status line in curl's headers", text[:120] if text else None)
    return status, headers
