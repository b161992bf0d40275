"""The one way opsdash runs a command on a host: streamed, capped, and never left behind.

Every remote probe (patches, backups, caches, curl from a vantage) goes through
``run_command``; only the transport differs (an SSH exec channel in ssh.py, a
local ``sh`` in runner.py). The guarantees, and what gives each one:

- **No files on the host.** stdout and stderr stream back over the channel as
  they are written; nothing is spooled to the host's disk (the sectioned
  scripts of patches.py keep per-command stderr in a shell variable, not a
  temp file). Only a restore test writes to disk, into the one temp dir it
  restores into, removed by its own trap.
- **A byte cap** (``max_output``, default 8 MiB) on stdout + stderr together.
  Past it the channel is closed, which stops the command (below), and the run
  raises ``OutputTooLarge`` ("output over 8 MiB").
- **Nothing outlives the run.** The command runs under ``WRAPPER``, a POSIX
  ``sh`` script that makes itself a process-group leader (``setsid`` when it is
  not one already), reports that group's id first on stderr, and starts a
  watchdog *inside the group* that blocks reading the channel's stdin (the
  shell's own ``read``: it needs no tool that a bare host might lack). We
  never send EOF while the command should run: the input (a script, a curl
  config) is sent length-prefixed and the wrapper reads exactly that many
  bytes. So EOF on stdin means "stop", however it comes: our EOF on a timeout
  or a cancellation, the channel closed at the cap, or sshd closing the pipes
  because the collector died (kill -9) or the connection dropped. The watchdog
  then sends SIGTERM to the group (cleanup traps run), waits ``TERM_GRACE``
  and sends SIGKILL. A second in-group timer does the same at the host-side
  deadline (our timeout + ``HOST_DEADLINE_MARGIN``), a backstop for a link
  that hangs without closing. When the command ends normally the wrapper
  prints its exit status (a nonce-tagged line on stderr) and SIGKILLs its own
  group: no background child, helper or stray ``sleep`` survives a run.
  Killing from inside the group, rather than ``kill -PGID`` sent later over a
  fresh channel, means the group id can never have been reused by the time
  the signal is sent: while the watchdog lives, so does its group.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Protocol

from ..errors import OutputTooLarge, ProbeError

__all__ = [
    "CommandResult",
    "DEFAULT_MAX_OUTPUT",
    "HOST_DEADLINE_MARGIN",
    "Invocation",
    "OutputTooLarge",
    "Process",
    "STDERR_KEEP",
    "TERM_GRACE",
    "WRAPPER",
    "format_size",
    "run_command",
]

DEFAULT_MAX_OUTPUT = 8 * 1024 * 1024
STDERR_KEEP = 65536  # of stderr we keep for messages; all of it counts against the cap
TERM_GRACE = 2.0  # seconds between SIGTERM and SIGKILL of the command's group
HOST_DEADLINE_MARGIN = 5.0  # the host-side timer fires this long after our own timeout
READ_CHUNK = 65536

# $1 nonce, $2 input bytes, $3 host-side deadline (s), $4 TERM->KILL grace (s), $5 the command.
# The wrapper itself is in $OPSDASH_RUN (see Invocation.command_line), so setsid can re-run it.
# setsid is only called when we are not a group leader, so it does not fork (no -w needed,
# which util-linux before 2.24 lacks); the exit status travels in our last stderr line anyway.
# Without setsid (BSD) or /proc, the group is the one sshd made for the session: ours alone.
WRAPPER = r"""
n=$1 len=$2 dl=$3 g=$4 c=$5
pg=
if [ -r "/proc/$$/stat" ]; then read -r _ _ _ _ pg _ <"/proc/$$/stat"; else pg=$(ps -o pgid= -p $$ 2>/dev/null); pg=${pg#"${pg%%[! ]*}"}; fi
if [ "$pg" != "$$" ] && [ "${OPSDASH_RUN_SID-}" != "$n" ] && command -v setsid >/dev/null 2>&1; then
  OPSDASH_RUN_SID=$n; export OPSDASH_RUN_SID
  exec setsid sh -c 'eval "$OPSDASH_RUN"' opsdash-run "$@"
fi
unset OPSDASH_RUN OPSDASH_RUN_SID
printf '%s pgid=%s\n' "$n" "$pg" >&2
in=
if [ "$len" -gt 0 ]; then
  if command -v dd >/dev/null 2>&1; then in=$(dd bs=1 count="$len" 2>/dev/null; echo .); else in=$(head -c "$len"; echo .); fi
  in=${in%.}
fi
reap() { kill -s TERM -- "-$pg" 2>/dev/null; sleep "$g" 2>/dev/null; kill -s KILL -- "-$pg" 2>/dev/null; }
exec 3<&0
( trap '' TERM; while read -r _; do :; done; reap ) <&3 >/dev/null 2>&1 &
( trap '' TERM; sleep "$dl" && reap ) </dev/null >/dev/null 2>&1 3<&- &
if [ "$len" -gt 0 ]; then printf %s "$in" | sh -c "$c" 3<&-; else sh -c "$c" </dev/null 3<&-; fi
rc=$?
printf '\n%s rc=%d\n' "$n" "$rc" >&2
kill -s KILL -- "-$pg"
"""


_EVAL = shlex.quote('eval "$OPSDASH_RUN"')


@dataclass(frozen=True, slots=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str
    truncated: bool = False  # kept for old callers: past the cap the run raises OutputTooLarge instead


def format_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True, slots=True)
class Invocation:
    """One wrapped command: what the transport starts, and what it sends on stdin."""

    nonce: str
    command: str
    input: bytes
    deadline: float  # host-side, seconds
    grace: float

    @classmethod
    def build(cls, command: str, *, timeout: float, input: str | None = None, grace: float = TERM_GRACE) -> Invocation:
        data = (input or "").encode()
        # A shell variable cannot hold NUL; a script or curl config never has one.
        if b"\0" in data:
            raise ProbeError("command input contains a NUL byte")
        return cls(secrets.token_hex(8), command, data, timeout + HOST_DEADLINE_MARGIN, grace)

    def args(self) -> list[str]:
        """Positional arguments of the wrapper ($1..$5)."""
        return [self.nonce, str(len(self.input)), str(max(1, int(self.deadline + 0.999))), f"{self.grace:g}", self.command]

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"LC_ALL": "C", **{k: v for k, v in (extra or {}).items() if k.isidentifier()}, "OPSDASH_RUN": WRAPPER}

    def command_line(self, extra_env: Mapping[str, str] | None = None) -> str:
        """For a remote login shell of any kind: one simple ``env ... sh -c`` command."""
        assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env(extra_env).items())
        return f"env {assigns} sh -c {_EVAL} opsdash-run " + " ".join(shlex.quote(a) for a in self.args())


class Process(Protocol):
    """What a transport hands ``run_command``: a started wrapper and its three streams."""

    async def read_stdout(self, n: int) -> bytes: ...  # b"" at EOF
    async def read_stderr(self, n: int) -> bytes: ...
    def write(self, data: bytes) -> None: ...  # stdin; never followed by EOF while it should run
    def stop(self) -> None: ...  # EOF on stdin: the wrapper's watchdog stops the group
    def abandon(self) -> None: ...  # close everything now (also stops the group, by EOF)
    async def exit_status(self, timeout: float) -> tuple[int | None, str | None]: ...  # (status, signal name)


@dataclass(slots=True)
class _Output:
    stdout: bytearray
    err_head: bytearray
    err_tail: bytes = b""
    err_total: int = 0
    total: int = 0
    over: bool = False


async def _pump(proc: Process, out: _Output, cap: int) -> None:
    """Read both streams to EOF; past ``cap`` bytes in all, stop reading and mark ``over``."""

    async def one(read: Callable[[int], Awaitable[bytes]], is_err: bool) -> None:
        while chunk := await read(READ_CHUNK):
            out.total += len(chunk)
            if out.total > cap:
                out.over = True
                return
            if is_err:
                out.err_total += len(chunk)
                room = STDERR_KEEP - len(out.err_head)
                if room > 0:
                    out.err_head += chunk[:room]
                out.err_tail = (out.err_tail + chunk)[-512:]  # where the exit-status line is
            else:
                out.stdout += chunk

    tasks = [asyncio.ensure_future(one(proc.read_stdout, False)), asyncio.ensure_future(one(proc.read_stderr, True))]
    try:
        while tasks:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()
            tasks = list(pending)
            if out.over:
                return
    finally:
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _drain(proc: Process, budget: float) -> None:
    """After ``stop()``: read (and drop) what is left until EOF, so the command's cleanup
    traps have run when we return; at most ``budget`` seconds."""
    sink = _Output(bytearray(), bytearray())
    try:
        async with asyncio.timeout(budget):
            await _pump(proc, sink, 1 << 62)
    except (TimeoutError, OSError):
        pass


def _stderr_text(out: _Output, nonce: str) -> tuple[str, int | None]:
    """The command's stderr (our two marker lines removed) and the exit status it reported."""
    whole = out.err_total <= len(out.err_head)
    head = bytes(out.err_head)
    first = f"{nonce} pgid=".encode()
    if head.startswith(first):
        nl = head.find(b"\n")
        head = head[nl + 1 :] if nl >= 0 else b""
    rc = None
    marker = re.compile(rb"\n" + nonce.encode() + rb" rc=(\d+)\n")
    found = list(marker.finditer(out.err_tail))
    if found:
        rc = int(found[-1].group(1))
        if whole:
            m = list(marker.finditer(head))
            if m:
                head = head[: m[-1].start()]
    return head.decode("utf-8", errors="replace"), rc


async def run_command(
    start: Callable[[Invocation], Awaitable[Process]],
    command: str,
    *,
    timeout: float,
    input: str | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    grace: float = TERM_GRACE,
) -> CommandResult:
    """Run ``command`` (POSIX sh) through ``start``'s transport under the wrapper.

    Raises ProbeError(state="timeout") past ``timeout``, OutputTooLarge past
    ``max_output``; a cancellation stops the command the same way. A command that
    ends without reporting its exit status (its wrapper was killed) gets the
    channel's status and a last stderr line saying so.
    """
    inv = Invocation.build(command, timeout=timeout, input=input, grace=grace)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            proc = await start(inv)
    except TimeoutError:
        raise ProbeError(f"no channel within {timeout:g}s", state="timeout") from None
    out = _Output(bytearray(), bytearray())
    try:
        if inv.input:
            proc.write(inv.input)
        try:
            async with asyncio.timeout_at(deadline):
                await _pump(proc, out, max_output)
        except TimeoutError:
            proc.stop()
            await _drain(proc, grace + 1.0)
            await proc.exit_status(0.5)
            raise ProbeError(f"command timed out after {timeout:g}s (stopped on the host)", state="timeout") from None
        if out.over:
            proc.abandon()  # not stop(): a channel nobody reads would never drain to its close
            await proc.exit_status(grace + 1.0)
            raise OutputTooLarge(f"output over {format_size(max_output)}; the command was stopped")
        stderr, rc = _stderr_text(out, inv.nonce)
        # Both streams are at EOF: the wrapper has ended (it kills its own group last).
        status, signal = await proc.exit_status(5.0)
        if rc is None:
            # The wrapper was killed before its last line (or the far end is not a shell).
            rc = status if status is not None else -1
            if rc != 0:
                how = f"signal {signal}" if signal else (f"exit {status}" if status is not None else "no exit status")
                stderr += f"\nopsdash: the command ended without reporting its exit status ({how})\n"
        return CommandResult(rc, out.stdout.decode("utf-8", errors="replace"), stderr)
    finally:
        proc.abandon()
