"""One persistent SSH connection per host, with OpenSSH habits.

- ~/.ssh/config aliases, User, Port, IdentityFile and ProxyJump are honoured
  (asyncssh reads the file); ``jump`` in our config chains through another
  host's connection or a ``user@host:port`` string; the agent is used.
- known_hosts is checked strictly by default. ``accept-new`` appends the key
  only for a host that has no entry; a changed key is ``host-key-mismatch``,
  refused, with both fingerprints in the reason.
- The health poll runs in a long-lived remote ``sh`` (``RemoteShell``): the
  script goes to its stdin and we read up to an end marker carrying a fresh
  token, so no poll costs the host a new sshd session. If the marker does not
  arrive in time, that shell is thrown away and the next poll starts another.
- Everything else (patches, backups, curl) runs as exec channels on the same
  connection through ``run()``, the ``Runner`` protocol.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from pathlib import Path
from typing import Any, Callable, Mapping

import asyncssh

from ..config import HostConfig
from ..errors import SSHError
from ..model import (
    HOST_AUTH_FAILED,
    HOST_ERROR,
    HOST_KEY_MISMATCH,
    HOST_KEY_UNKNOWN,
    HOST_TIMEOUT,
    HOST_UNREACHABLE,
)
from .runner import MAX_OUTPUT_BYTES, CommandResult, with_env

READ_CHUNK = 65536


def _expand(p: str | None) -> str | None:
    return os.path.expanduser(p) if p else None


def _known_hosts_name(host: str, port: int | None) -> str:
    return host if port in (None, 22) else f"[{host}]:{port}"


class RemoteShell:
    """A long-lived ``sh`` on the host; requests are scripts, replies end at a marker."""

    def __init__(self, process: asyncssh.SSHClientProcess):
        self._proc = process
        self._buf = b""
        self.broken = False

    async def request(self, script: str, timeout: float) -> tuple[str, int]:
        """Run ``script`` and return (output, exit status of its last command)."""
        token = secrets.token_hex(8)
        marker = f"=== end {token} rc=".encode()
        self._proc.stdin.write(script.encode() + f"\nprintf '=== end {token} rc=%d ===\\n' $?\n".encode())
        loop = asyncio.get_running_loop()
        buf = bytearray(self._buf)
        scan = 0  # where the marker may start: each byte is searched once, not once per chunk
        try:
            async with asyncio.timeout_at(loop.time() + timeout):
                while True:
                    i = buf.find(marker, scan)
                    if i >= 0:
                        j = buf.find(b"\n", i)
                        if j >= 0:
                            break
                        scan = i
                    else:
                        scan = max(0, len(buf) - len(marker) + 1)
                    if len(buf) > MAX_OUTPUT_BYTES:
                        self.broken = True
                        raise SSHError(f"health output larger than {MAX_OUTPUT_BYTES} bytes; dropped", state=HOST_ERROR)
                    chunk = await self._proc.stdout.read(READ_CHUNK)
                    if not chunk:
                        self.broken = True
                        raise SSHError("remote shell closed mid-reply", state=HOST_ERROR)
                    buf += chunk
        except TimeoutError:
            self.broken = True
            raise SSHError(f"no reply within {timeout:g}s", state=HOST_TIMEOUT) from None
        self._buf = bytes(buf[j + 1 :])
        body = buf[:i].decode("utf-8", errors="replace")
        tail = buf[i + len(marker) : j].decode(errors="replace")
        try:
            rc = int(tail.split()[0])
        except (ValueError, IndexError):
            rc = -1
        return body, rc

    def close(self) -> None:
        self.broken = True
        try:
            self._proc.close()
        except Exception:  # the channel may already be gone
            pass


class SSHHost:
    """The SSH side of one configured host: its connection and its shell."""

    def __init__(
        self,
        cfg: HostConfig,
        *,
        connect_limit: asyncio.Semaphore | None = None,
        jump_host: Callable[[str], "SSHHost | None"] | None = None,
    ):
        self.cfg = cfg
        self.name = cfg.name
        self._limit = connect_limit or asyncio.Semaphore(20)
        self._jump_host = jump_host or (lambda name: None)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting: asyncio.Lock = asyncio.Lock()
        self._shell: RemoteShell | None = None
        self._shell_lock = asyncio.Lock()
        self.connects = 0  # how many times we (re)connected: a storm shows here

    # --- connection ---------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        c = self.cfg
        opts: dict[str, Any] = {"connect_timeout": c.timeout, "keepalive_interval": 30, "keepalive_count_max": 3}
        if c.port is not None:
            opts["port"] = c.port
        if c.user:
            opts["username"] = c.user
        if c.identity_file:
            opts["client_keys"] = [_expand(c.identity_file)]
        ssh_config = _expand(c.ssh_config)
        opts["config"] = [ssh_config] if ssh_config and os.path.exists(ssh_config) else None
        return opts

    def _known_hosts(self) -> asyncssh.SSHKnownHosts:
        path = _expand(self.cfg.known_hosts)
        try:
            data = Path(path).read_text() if path else ""
        except FileNotFoundError:
            data = ""
        except OSError as e:
            raise SSHError(f"cannot read known_hosts {path}: {e.strerror}", state=HOST_ERROR) from None
        return asyncssh.import_known_hosts(data)

    def _entries_for(self, known: asyncssh.SSHKnownHosts, port: int | None) -> list[asyncssh.SSHKey]:
        host = self.cfg.address
        try:
            addr = socket.gethostbyname(host) if not host.replace(".", "").isdigit() else host
        except OSError:
            addr = ""
        keys = known.match(host, addr, port or 22)
        # The name and the address may both match one line: count each key once.
        unique = {k.get_fingerprint(): k for k in list(keys[0]) + list(keys[1])}
        return list(unique.values())

    async def _tunnel(self) -> Any:
        j = self.cfg.jump
        if not j:
            return ()
        other = self._jump_host(j)
        if other is not None:
            return await other.connection()
        return j  # "user@host:port": asyncssh opens it itself

    async def connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        async with self._connecting:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            self._drop_shell()
            self._conn = await self._connect()
            self.connects += 1
            return self._conn

    async def _connect(self) -> asyncssh.SSHClientConnection:
        c = self.cfg
        opts = self._options()
        known = self._known_hosts()
        accept_new = c.host_key_policy == "accept-new" and not self._entries_for(known, c.port)
        async with self._limit:
            try:
                tunnel = await self._tunnel()
                conn = await asyncio.wait_for(
                    asyncssh.connect(c.address, tunnel=tunnel, known_hosts=None if accept_new else known, **opts),
                    c.timeout,
                )
            except asyncssh.HostKeyNotVerifiable as e:
                raise await self._host_key_error(known, opts, str(e)) from None
            except (asyncio.TimeoutError, TimeoutError):
                raise SSHError(f"no SSH handshake within {c.timeout:g}s", state=HOST_TIMEOUT) from None
            except asyncssh.PermissionDenied:
                raise SSHError(f"authentication failed for user {c.user or '(default)'}", state=HOST_AUTH_FAILED) from None
            except socket.gaierror as e:
                raise SSHError(f"cannot resolve {c.address}: {e.strerror}", state=HOST_UNREACHABLE) from None
            except ConnectionRefusedError:
                raise SSHError(f"connection refused by {c.address}", state=HOST_UNREACHABLE) from None
            except SSHError:
                raise
            except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as e:
                raise SSHError(f"connection lost during handshake: {e.reason}", state=HOST_ERROR) from None
            except OSError as e:
                raise SSHError(f"cannot connect to {c.address}: {e.strerror or e}", state=HOST_UNREACHABLE) from None
            except asyncssh.Error as e:
                raise SSHError(f"ssh: {e.reason}", state=HOST_ERROR) from None
        if accept_new:
            self._append_known_host(conn)
        return conn

    async def _host_key_error(self, known: asyncssh.SSHKnownHosts, opts: dict[str, Any], detail: str) -> SSHError:
        c = self.cfg
        expected = self._entries_for(known, c.port)
        if not expected:
            return SSHError(
                f"host key for {c.address} not in {c.known_hosts} (add it, or set host_key_policy = \"accept-new\")",
                state=HOST_KEY_UNKNOWN,
            )
        # A changed key: show both fingerprints, loudly, and never accept it.
        presented = "unknown"
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(c.address, opts.get("port", ()), config=opts.get("config")), c.timeout
            )
            if key is not None:
                presented = key.get_fingerprint()
        except Exception:  # the fingerprint is a courtesy; the refusal stands regardless
            pass
        known_fps = ", ".join(k.get_fingerprint() for k in expected)
        return SSHError(
            f"HOST KEY CHANGED for {c.address}: known {known_fps}, presented {presented}; refused "
            "(possible man-in-the-middle; fix known_hosts only after checking)",
            state=HOST_KEY_MISMATCH,
        )

    def _append_known_host(self, conn: asyncssh.SSHClientConnection) -> None:
        key = conn.get_server_host_key()
        path = _expand(self.cfg.known_hosts)
        if key is None or not path:
            return
        line = f"{_known_hosts_name(self.cfg.address, self.cfg.port)} {key.export_public_key().decode().strip()}\n"
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(line)

    # --- the long-lived shell ------------------------------------------------------

    def _drop_shell(self) -> None:
        if self._shell is not None:
            self._shell.close()
            self._shell = None

    async def shell_request(self, script: str, timeout: float) -> tuple[str, int]:
        """Run a script in the host's persistent shell (one request at a time)."""
        async with self._shell_lock:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            try:
                conn = await asyncio.wait_for(self.connection(), timeout)
            except asyncio.TimeoutError:
                raise SSHError(f"no SSH handshake within {timeout:g}s", state=HOST_TIMEOUT) from None
            if self._shell is None or self._shell.broken:
                self._drop_shell()
                try:
                    proc = await asyncio.wait_for(
                        conn.create_process("LC_ALL=C exec sh", encoding=None, stderr=asyncssh.DEVNULL),
                        max(0.1, deadline - loop.time()),
                    )
                except asyncio.TimeoutError:
                    raise SSHError("no shell within the timeout", state=HOST_TIMEOUT) from None
                except (asyncssh.Error, OSError) as e:
                    await self._reset()
                    raise SSHError(f"cannot open a shell: {e}", state=HOST_ERROR) from None
                self._shell = RemoteShell(proc)
            try:
                return await self._shell.request(script, max(0.1, deadline - loop.time()))
            except SSHError:
                self._drop_shell()
                if self._conn is not None and self._conn.is_closed():
                    self._conn = None
                raise
            except (asyncssh.Error, OSError) as e:
                await self._reset()
                raise SSHError(f"connection lost: {e}", state=HOST_ERROR) from None

    # --- exec channels (the Runner protocol) ---------------------------------------

    async def run(
        self,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        conn = await self.connection()
        full = with_env(command, {"LC_ALL": "C", **(env or {})})
        try:
            proc = await asyncio.wait_for(
                conn.create_process(full, encoding=None, stdin=asyncssh.DEVNULL if input is None else asyncssh.PIPE),
                timeout,
            )
        except asyncio.TimeoutError:
            raise SSHError(f"no channel within {timeout:g}s", state=HOST_TIMEOUT) from None
        except (asyncssh.Error, OSError) as e:
            await self._reset()
            raise SSHError(f"connection lost: {e}", state=HOST_ERROR) from None
        try:
            if input is not None:
                try:
                    proc.stdin.write(input.encode())
                    proc.stdin.write_eof()
                except (asyncssh.Error, OSError):
                    pass  # it exited before reading its input (curl not installed): its status and stderr say why
            out, err, truncated = await asyncio.wait_for(_read_capped(proc), timeout)
            await asyncio.wait_for(proc.wait_closed(), 5)
        except asyncio.TimeoutError:
            proc.close()
            raise SSHError(f"command timed out after {timeout:g}s", state=HOST_TIMEOUT) from None
        except (asyncssh.Error, OSError) as e:
            proc.close()
            raise SSHError(f"connection lost mid-command: {e}", state=HOST_ERROR) from None
        rc = proc.exit_status if proc.exit_status is not None else -1
        return CommandResult(
            rc, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace"), truncated
        )

    async def _reset(self) -> None:
        self._drop_shell()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        self._drop_shell()
        if self._conn is not None:
            self._conn.close()
            try:
                await asyncio.wait_for(self._conn.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):
                pass
            self._conn = None


async def _read_capped(proc: asyncssh.SSHClientProcess) -> tuple[bytes, bytes, bool]:
    """Read stdout and stderr to EOF, keeping at most MAX_OUTPUT_BYTES of stdout."""
    out = bytearray()
    truncated = False

    async def drain_err() -> bytes:
        err = bytearray()
        while chunk := await proc.stderr.read(READ_CHUNK):
            if len(err) < 65536:
                err += chunk
        return bytes(err[:65536])

    err_task = asyncio.ensure_future(drain_err())
    try:
        while chunk := await proc.stdout.read(READ_CHUNK):
            if len(out) < MAX_OUTPUT_BYTES:
                out += chunk
            else:
                truncated = True
                proc.close()  # a host sending gigabytes: stop reading, keep what we have
                break
        err = await err_task
    finally:
        err_task.cancel()
    return bytes(out[:MAX_OUTPUT_BYTES]), err, truncated
