"""The exceptions opsdash raises, and how the command line maps them.

    OpsdashError
    ├── ConfigError         a config file is wrong (carries every problem found)
    ├── StoreError          the SQLite store cannot be opened, read or written
    └── ProbeError          a probe could not produce a reading
        ├── SSHError        connection, authentication, host key, remote command
        ├── HTTPProbeError  an HTTP probe failed before a status was known
        ├── OutputTooLarge  a remote command wrote past its host's max_output and was stopped
        ├── ScriptEndedEarly a probe script stopped before its end marker
        └── ParseError      output that a parser does not understand

A ProbeError carries ``state``: one of the host states of the JSON contract
("timeout", "unreachable", "auth-failed", "host-key-unknown",
"host-key-mismatch", "error"). The CLI maps ConfigError to exit 3 with one
line per problem and never prints a traceback for any of these.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "HTTPProbeError",
    "OpsdashError",
    "OutputTooLarge",
    "ParseError",
    "ProbeError",
    "SSHError",
    "ScriptEndedEarly",
    "StoreError",
]


class OpsdashError(Exception):
    """Base of every error opsdash raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a config file, formatted FILE:LINE: key.path: message."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        from .textsafe import clean  # a key or value from the file may hold escape sequences

        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return clean(text)


class ConfigError(OpsdashError):
    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(OpsdashError):
    """The store failed; the message says what and which file."""


class ProbeError(OpsdashError):
    state = "error"

    def __init__(self, message: str, state: str | None = None):
        super().__init__(message)
        if state is not None:
            self.state = state


class SSHError(ProbeError):
    pass


class HTTPProbeError(ProbeError):
    pass


class OutputTooLarge(ProbeError):
    """The command wrote more than ``max_output``; it was stopped and its output dropped."""


class ScriptEndedEarly(ProbeError):
    """The script stopped before its end marker: a command killed it, a syntax error,
    SIGPIPE. Carries the exit status and the reason (the last stderr line)."""

    def __init__(self, message: str, rc: int, reason: str):
        super().__init__(message)
        self.rc = rc
        self.reason = reason


class ParseError(ProbeError):
    """Output a parser cannot read. Names the line it choked on."""

    def __init__(self, message: str, line: str | None = None, lineno: int | None = None):
        self.line = line
        self.lineno = lineno
        detail = message
        if lineno is not None:
            detail += f" (line {lineno}"
            detail += f": {line[:120]!r})" if line is not None else ")"
        elif line is not None:
            detail += f": {line[:120]!r}"
        super().__init__(detail, state="error")
