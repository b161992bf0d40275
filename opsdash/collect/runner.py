"""How probes run commands on a host, whatever the transport.

A probe that needs a host (patches, backups, caches, a remote HTTP vantage)
takes a ``Runner``. Over SSH it is ``opsdash.collect.ssh.SSHHost``; for this
machine, or in tests, ``LocalRunner``. Both are thin users of
``remote.run_command``, the one remote runner: output streamed and capped,
nothing left on the host, the command's process group stopped on timeout or
cancellation.

Commands are strings for a POSIX shell. Anything from config or remote output
that goes into one must pass through ``shlex.quote`` (use ``sh_join``).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from typing import Iterable, Mapping, Protocol

from . import remote
from .remote import CommandResult

# The default cap on what one command may hand us (config: max_output): a host
# that returns gigabytes is a finding, not a reason to run out of memory.
MAX_OUTPUT_BYTES = remote.DEFAULT_MAX_OUTPUT
TERM_GRACE = remote.TERM_GRACE


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
        """Run ``command`` under ``sh``; raise ProbeError(state="timeout") past ``timeout``,
        remote.OutputTooLarge past the runner's ``max_output``."""
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


class LocalRunner:
    """Runs commands on this machine (tests, and the "local" host), through the same
    wrapper as a remote host (remote.py): streamed, capped, stopped by EOF on stdin."""

    name = "local"
    max_output: int = MAX_OUTPUT_BYTES

    def __init__(self, max_output: int = MAX_OUTPUT_BYTES):
        self.max_output = max_output

    async def run(
        self,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        async def start(inv: remote.Invocation) -> remote.Process:
            proc = await asyncio.create_subprocess_exec(
                "sh", "-c", 'eval "$OPSDASH_RUN"', "opsdash-run", *inv.args(),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **inv.env(env)},
                start_new_session=True,  # the wrapper is its group's leader: no setsid needed
            )
            return _LocalProcess(proc, inv.grace)

        return await remote.run_command(start, command, timeout=timeout, input=input, max_output=self.max_output)


class _LocalProcess:
    """remote.Process over an asyncio subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, grace: float):
        self._proc = proc
        self._grace = grace
        self._reaper: asyncio.Task[None] | None = None

    async def read_stdout(self, n: int) -> bytes:
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(n)

    async def read_stderr(self, n: int) -> bytes:
        assert self._proc.stderr is not None
        return await self._proc.stderr.read(n)

    def write(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)

    def stop(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()

    def abandon(self) -> None:
        self.stop()
        if self._reaper is None and self._proc.returncode is None:
            # The wrapper's watchdog stops the group; this waits for it (and is the
            # last resort if it could not), in the background: a cancelled run cannot wait.
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
            _reapers.add(self._reaper)
            self._reaper.add_done_callback(_reapers.discard)

    async def _reap(self) -> None:
        # Read the pipes to EOF first: asyncio's wait() returns only once they are
        # closed, and a pipe we stopped reading (at the cap) never would be.
        async def drain(stream: asyncio.StreamReader | None) -> None:
            while stream is not None and await stream.read(1 << 16):
                pass

        drained = asyncio.gather(drain(self._proc.stdout), drain(self._proc.stderr))
        # Cancelled at loop close, the drains end before anyone reads their outcome: read it here.
        drained.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            await asyncio.wait_for(drained, self._grace + 2.0)
            await asyncio.wait_for(self._proc.wait(), 1.0)
        except asyncio.CancelledError:
            # The loop is closing (the collector stopped mid-command): nobody will wait for the
            # group, so stop it and close the transport now, while the loop can still do so.
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._close_transport(force=True)
            raise
        except (asyncio.TimeoutError, OSError):
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)  # not reaped yet: the id is still ours
            except ProcessLookupError:
                pass
            self._close_transport(force=True)
            return
        self._close_transport()

    def _close_transport(self, force: bool = False) -> None:
        # Close the transport now, not in a finalizer that may run after the loop has
        # closed (a ResourceWarning, an error in tests).
        transport = getattr(self._proc, "_transport", None)
        if transport is not None and (force or self._proc.returncode is not None):
            transport.close()

    async def exit_status(self, timeout: float) -> tuple[int | None, str | None]:
        try:
            if self._reaper is not None:
                await asyncio.wait_for(asyncio.shield(self._reaper), timeout)
            rc = await asyncio.wait_for(self._proc.wait(), timeout)
        except asyncio.TimeoutError:
            return None, None
        if self._proc.stdout is not None and self._proc.stdout.at_eof():
            self._close_transport()
        if rc < 0:
            return None, signal.Signals(-rc).name.removeprefix("SIG")
        return rc, None


_reapers: set[asyncio.Task[None]] = set()
