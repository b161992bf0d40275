"""How probes run commands on a host, whatever the transport.

A probe that needs a host (patches, backups, caches, a remote HTTP vantage)
takes a ``Runner``. Over SSH it is ``opsdash.collect.ssh.SSHHost``; for this
machine, or in tests, ``LocalRunner`` runs the same command through ``sh -c``.

Commands are strings for a POSIX shell. Anything from config or remote output
that goes into one must pass through ``shlex.quote`` (use ``sh_join``).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

from ..errors import ProbeError

# Cap what a command may hand us: a host that returns gigabytes is a finding,
# not a reason to run out of memory.
MAX_OUTPUT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str
    truncated: bool = False


class Runner(Protocol):
    name: str

    async def run(
        self,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        """Run ``command`` under ``sh``; raise ProbeError(state="timeout") past ``timeout``."""
        ...


def sh_join(args: Iterable[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in args)


def with_env(command: str, env: Mapping[str, str] | None) -> str:
    """``command`` run by ``sh`` with VAR=value set (sshd usually refuses SendEnv).

    ``env VARS sh -c 'COMMAND'`` rather than a prefix: COMMAND may be a whole
    script (``a; b | c``), and the user's login shell may not be POSIX.
    """
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items() if k.isidentifier())
    if not assigns:
        return command
    return f"env {assigns} sh -c {shlex.quote(command)}"


def _decode(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


class LocalRunner:
    """Runs commands on this machine through ``sh -c`` (tests, and the "local" host)."""

    name = "local"

    async def run(
        self,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            command,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(input.encode() if input is not None else None), timeout
            )
        except asyncio.TimeoutError:
            await _terminate(proc)
            raise ProbeError(f"command timed out after {timeout:g}s", state="timeout") from None
        truncated = len(out) > MAX_OUTPUT_BYTES
        return CommandResult(proc.returncode or 0, _decode(out[:MAX_OUTPUT_BYTES]), _decode(err[:65536]), truncated)


TERM_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the command's process group, then SIGKILL after a grace period.

    SIGTERM first so a script's cleanup trap runs (a restore test removes its
    temp dir); over SSH, closing the channel sends the same hangup.
    """
    for sig, wait in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except asyncio.TimeoutError:
            continue
    await proc.wait()
