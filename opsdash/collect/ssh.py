"""One persistent SSH connection per host, with OpenSSH habits.

- ~/.ssh/config aliases, HostName, User, Port, IdentityFile, HostKeyAlias and
  ProxyJump are honoured (openssh.py reads the file as asyncssh does); ``jump``
  in our config chains through another host's connection or a
  ``user@host:port`` string. Every hop is opened here and checked against this
  host's known_hosts, so a failing jump hop is named as the jump hop.
- known_hosts is checked strictly by default, under OpenSSH's name for the hop
  (HostKeyAlias, else ``[HostName]:Port``; hashed lines, @revoked and
  @cert-authority honoured). ``accept-new`` appends the key only for a name with
  no entry; a changed key is ``host-key-mismatch``, refused, with both
  fingerprints in the reason.
- Names resolve in a thread with a deadline (resolve.py): nothing here blocks
  the loop. The agent is never forwarded, whatever ssh_config says.
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
from typing import Any, Callable, Mapping

import asyncssh
from asyncssh.encryption import get_default_encryption_algs
from asyncssh.public_key import get_default_public_key_algs

from .. import gcpolicy
from ..config import HostConfig, format_size
from ..errors import SSHError
from ..model import (
    HOST_AUTH_FAILED,
    HOST_ERROR,
    HOST_KEY_MISMATCH,
    HOST_KEY_UNKNOWN,
    HOST_TIMEOUT,
    HOST_UNREACHABLE,
)
from . import openssh, resolve
from .openssh import Hop
from . import remote
from .runner import MAX_OUTPUT_BYTES, CommandResult

READ_CHUNK = 65536
FAILED_FRESH = 0.25  # s: a failed connect is still the answer for polls that waited on it (ready())

# Cipher preference when ssh_config names none: asyncssh's own list, AES-GCM first.
# asyncssh does chacha20-poly1305 in Python around two fresh cryptography contexts
# per packet (~32 us to seal 1 KiB here); AES-GCM is one call into OpenSSL (~6 us).
# A poll is about four packets (asyncssh sends an SSH_MSG_IGNORE before each one).
# OpenSSH has offered both since 6.5; the server's list still has to agree.
def _cipher_preference() -> list[str]:
    default = [a.decode() for a in get_default_encryption_algs()]
    first = [a for a in ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com") if a in default]
    return first + [a for a in default if a not in first]


PREFERRED_CIPHERS = _cipher_preference()


def _expand(p: str | None) -> str | None:
    return os.path.expanduser(p) if p else None


class _HostKeyCheck(asyncssh.SSHClient):
    """asyncssh asks this about a key known_hosts does not vouch for (revoked keys never get here).

    accept-new takes it only when known_hosts has no line at all for the hop's name;
    otherwise it is refused, and the presented key is kept for the error."""

    def __init__(self, *, accept_new: bool, known: bool):
        self.accept_new = accept_new
        self.known = known
        self.presented: asyncssh.SSHKey | None = None
        self.presented_ca: asyncssh.SSHKey | None = None
        self.accepted: asyncssh.SSHKey | None = None

    def validate_host_ca_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented_ca = key  # a certificate from a CA known_hosts does not list for this name
        return False

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key
        if self.accept_new and not self.known:
            self.accepted = key
            return True
        return False


class RemoteShell:
    """A long-lived ``sh`` on the host; requests are scripts, replies end at a marker."""

    def __init__(self, process: asyncssh.SSHClientProcess, max_output: int = MAX_OUTPUT_BYTES):
        self._proc = process
        self._buf = b""
        self.broken = False
        self.max_output = max_output  # the host's cap, as for every other remote command

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
                    if len(buf) > self.max_output:
                        self.broken = True
                        raise SSHError(f"health output over {format_size(self.max_output)}; dropped", state=HOST_ERROR)
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
        churn: gcpolicy.Churn | None = None,
    ):
        self.cfg = cfg
        self.name = cfg.name
        self._limit = connect_limit or asyncio.Semaphore(20)
        self._churn = churn or gcpolicy.Churn()  # connections opened and dropped, fleet-wide (gcpolicy.Settler)
        self._jump_host = jump_host or (lambda name: None)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._attempt: asyncio.Task[asyncssh.SSHClientConnection] | None = None  # the connect under way
        self._failed: tuple[float, SSHError] | None = None  # when the last attempt failed, and why
        self._deadline: asyncio.Timeout | None = None  # the attempt's, restarted when it gets a connect slot
        self._shell: RemoteShell | None = None
        self._shell_lock = asyncio.Lock()
        self.connects = 0  # how many times we (re)connected: a storm shows here
        self._config_paths = openssh.config_paths(cfg.ssh_config)
        self._trying = cfg.address  # the hop a handshake is waiting on, for the timeout message
        self._resolving: tuple[str, str] | None = None  # (hop label, name) being resolved, while it is

    # --- connection ---------------------------------------------------------------
    #
    # Every hop (a jump host given as user@host:port, each ProxyJump of ssh_config,
    # then the host) is opened here, the same way: its effective HostName and Port
    # from ssh_config, its name resolved off the loop (resolve.py), its key checked
    # against THIS host's known_hosts file under OpenSSH's name for it, the agent
    # never forwarded. asyncssh is never handed a jump string or left to apply
    # ProxyJump itself: it would check those hops against ~/.ssh/known_hosts, and
    # their failures would read as the target's.

    def _base_options(self, hop: Hop, *, target: bool) -> dict[str, Any]:
        c = self.cfg
        opts: dict[str, Any] = {
            "keepalive_interval": 30,
            "keepalive_count_max": 3,
            # Whatever ssh_config says (ForwardAgent yes): a monitored host never gets the agent.
            "agent_forwarding": False,
        }
        if target and c.user:
            opts["username"] = c.user
        if not hop.sets_ciphers:
            opts["encryption_algs"] = PREFERRED_CIPHERS
        # A hop opened from a jump string or ProxyJump uses its own IdentityFile from
        # ssh_config, else this host's identity_file.
        if c.identity_file and (target or not hop.has_identity_file):
            opts["client_keys"] = [_expand(c.identity_file)]
        return opts

    async def _effective(self, alias: str, port: int | None, user: str | None) -> Hop:
        try:
            return await asyncio.to_thread(openssh.effective, alias, port, user, self._config_paths)
        except (OSError, ValueError) as e:
            raise SSHError(f"cannot read ssh_config {self.cfg.ssh_config}: {e}", state=HOST_ERROR) from None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def connection(self, timeout: float | None = None) -> asyncssh.SSHClientConnection:
        """The connection, opened within ``timeout`` (default: the host's) of getting a
        connect slot if there is none.

        One attempt at a time, in its own task, shared by every caller: a caller that
        gives up (its poll's deadline) does not cancel the handshake, so under a connect
        storm each attempt gets to finish instead of being started over by every poll.
        An attempt that failed FAILED_FRESH ago or less is the answer for callers that were
        waiting for it (``ready()``), not a reason to try again at once."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        loop = asyncio.get_running_loop()
        if self._attempt is None and self._failed is not None and loop.time() - self._failed[0] < FAILED_FRESH:
            raise self._failed[1]
        return await asyncio.shield(self._start_attempt(timeout))

    async def ready(self) -> None:
        """Wait, with no deadline of ours, until the connection is open or an attempt at it
        has failed; raises nothing. The collector waits here before a poll's clock starts:
        time queued for a connect slot is the collector's start-up, not the host's slowness."""
        if self._conn is not None and not self._conn.is_closed():
            return
        loop = asyncio.get_running_loop()
        if self._attempt is None and self._failed is not None and loop.time() - self._failed[0] < FAILED_FRESH:
            return
        await asyncio.wait([self._start_attempt(None)])

    def _start_attempt(self, timeout: float | None) -> "asyncio.Task[asyncssh.SSHClientConnection]":
        if self._attempt is None:
            self._attempt = asyncio.ensure_future(self._open_connection(timeout or self.cfg.timeout))
            # Retrieved here: an attempt every caller gave up on must not log "never retrieved".
            self._attempt.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._attempt

    async def _open_connection(self, timeout: float) -> asyncssh.SSHClientConnection:
        try:
            self._drop_shell()
            try:
                conn = await self._connect(timeout)
            except SSHError as e:
                self._failed = (asyncio.get_running_loop().time(), e)
                raise
            self._set_conn(conn)
            self._failed = None
            self.connects += 1
            return conn
        finally:
            self._attempt = None

    async def _connect(self, timeout: float) -> asyncssh.SSHClientConnection:
        self._resolving = None
        try:
            async with asyncio.timeout(timeout) as self._deadline:
                return await self._connect_chain(timeout)
        except TimeoutError:
            if self._resolving is not None:  # the resolver never answered: the name is the problem
                where, name = self._resolving
                raise SSHError(f"{where}cannot resolve {name}: no answer within {timeout:g}s",
                               state=HOST_UNREACHABLE) from None
            raise SSHError(f"no SSH handshake with {self._trying} within {timeout:g}s", state=HOST_TIMEOUT) from None

    async def _connect_chain(self, timeout: float) -> asyncssh.SSHClientConnection:
        c = self.cfg
        self._trying = c.address
        target = await self._effective(c.address, c.port, c.user)
        self._trying = target.address
        shared = None  # another configured host's connection: it owns it, we only tunnel through
        if c.jump and (other := self._jump_host(c.jump)) is not None:
            self._trying = f"jump host {c.jump}"
            try:
                shared = await other.connection()  # before our slot: it takes its own
            except SSHError as e:
                raise SSHError(f"via jump host {c.jump}: {e}", state=e.state) from None
        if self._deadline is not None:
            self._deadline.reschedule(None)  # queued for a slot behind other hosts' handshakes: no deadline yet
        async with self._limit:
            if self._deadline is not None:  # the wait for a slot was ours, not the host's: a full timeout from here
                self._deadline.reschedule(asyncio.get_running_loop().time() + timeout)
            tunnel: asyncssh.SSHClientConnection | None = shared
            via = f"jump host {c.jump}"
            # ours wins over ssh_config's ProxyJump, as `ssh -J` does
            spec = None if shared is not None else (c.jump or target.proxy_jump)
            if spec:
                tunnel, via = await self._open_jumps(spec, depth=0)
            try:
                conn = await self._open_hop(target, tunnel, label="", target=True, via=via)
            except BaseException:
                if tunnel is not None and tunnel is not shared:
                    tunnel.close()
                raise
            if tunnel is not None and tunnel is not shared:
                conn.set_tunnel(tunnel)  # closed with the host's connection
            return conn

    async def _open_jumps(self, spec: str, depth: int) -> tuple[asyncssh.SSHClientConnection, str]:
        """Open ``[user@]host[:port],...`` in order, each through the one before; the last, and its label."""
        if depth > 4:
            raise SSHError(f"jump chain {spec!r} is more than 5 hops deep (a ProxyJump loop?)", state=HOST_ERROR)
        try:
            jumps = openssh.parse_jumps(spec)
        except ValueError as e:
            raise SSHError(str(e), state=HOST_ERROR) from None
        conn: asyncssh.SSHClientConnection | None = None
        label = via = ""
        try:
            for i, j in enumerate(jumps):
                self._trying = f"jump host {j.host}"
                hop = await self._effective(j.host, j.port, j.user)
                label = f"jump host {hop.address}"
                self._trying = label
                prev = conn
                if prev is None and hop.proxy_jump:  # the first hop's own ProxyJump, as ssh -W would apply it
                    prev, via = await self._open_jumps(hop.proxy_jump, depth + 1)
                try:
                    conn = await self._open_hop(hop, prev, label=label, target=False, via=via)
                except BaseException:
                    if prev is not None and i == 0:
                        prev.close()  # a nested chain we opened for this hop
                    raise
                if prev is not None:
                    conn.set_tunnel(prev)
                via = label
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        assert conn is not None
        return conn, label

    async def _open_hop(
        self, hop: Hop, tunnel: asyncssh.SSHClientConnection | None, *, label: str, target: bool, via: str = ""
    ) -> asyncssh.SSHClientConnection:
        """One SSH handshake; errors name the hop (``label``), the address tried, and the
        hop it was tried from (``via``)."""
        c = self.cfg
        where = f"{label}: " if label else ""
        self._trying = label or hop.address
        try:
            # in a thread: a big hashed file costs one HMAC per line to match
            matched = await asyncio.to_thread(openssh.lookup_file, c.known_hosts, hop.known_name)
        except (OSError, ValueError) as e:
            raise SSHError(f"{where}cannot read known_hosts {c.known_hosts}: {e}", state=HOST_ERROR) from None
        check = _HostKeyCheck(accept_new=c.host_key_policy == "accept-new", known=openssh.vouches(matched))
        extra: dict[str, Any] = {}
        if check.accept_new and not check.known and not hop.sets_host_key_algorithms:
            # Nothing known yet: ask for the plain host key, as ssh does, so the line
            # written is the key itself, not a certificate from a CA we do not trust.
            extra["server_host_key_algs"] = [a.decode() for a in get_default_public_key_algs()]
        sock = None
        if tunnel is None and not hop.proxy_command:
            sock = await self._tcp_connect(hop, where)
        try:
            try:
                conn = await asyncssh.connect(
                    hop.alias,
                    hop.port,
                    sock=sock,
                    tunnel=tunnel,  # None: no ProxyJump of asyncssh's own
                    config=self._config_paths or None,
                    known_hosts=matched,  # looked up under OpenSSH's name, above
                    client_factory=lambda: check,
                    **self._base_options(hop, target=target),
                    **extra,
                )
            except BaseException:
                if sock is not None:
                    sock.close()  # asyncssh may have failed before taking it over
                raise
        except asyncssh.HostKeyNotVerifiable as e:
            raise self._host_key_error(hop, where, matched, check, str(e)) from None
        except asyncssh.PermissionDenied:
            user = c.user if target and c.user else hop.user
            raise SSHError(f"{where}authentication failed for user {user} at {hop.address}", state=HOST_AUTH_FAILED) from None
        except asyncssh.ChannelOpenError as e:
            raise SSHError(f"{where}via {via or 'the proxy'} cannot reach {hop.address}: {e.reason}",
                           state=HOST_UNREACHABLE) from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as e:
            raise SSHError(f"{where}connection to {hop.address} lost during handshake: {e.reason}", state=HOST_ERROR) from None
        except ConnectionRefusedError:
            raise SSHError(f"{where}connection refused by {hop.address}", state=HOST_UNREACHABLE) from None
        except OSError as e:
            raise SSHError(f"{where}cannot connect to {hop.address}: {e.strerror or e}", state=HOST_UNREACHABLE) from None
        except asyncssh.Error as e:
            raise SSHError(f"{where}ssh {hop.address}: {e.reason}", state=HOST_ERROR) from None
        except ValueError as e:  # asyncssh's word for a bad option (an ssh_config value, a key file)
            raise SSHError(f"{where}ssh {hop.address}: {e}", state=HOST_ERROR) from None
        if check.accepted is not None and c.known_hosts:
            try:
                await asyncio.to_thread(openssh.append_known_host, c.known_hosts, hop.known_name, check.accepted)
            except OSError as e:
                conn.close()
                raise SSHError(f"{where}cannot write known_hosts {c.known_hosts}: {e.strerror or e}", state=HOST_ERROR) from None
        return conn

    async def _tcp_connect(self, hop: Hop, where: str) -> socket.socket:
        """A TCP connection to the hop: its name resolved in a thread, each address tried in turn."""
        loop = asyncio.get_running_loop()
        self._resolving = (where, hop.host)  # left set if the deadline cancels us here: _connect says so
        try:
            infos = await resolve.getaddrinfo(hop.host, hop.port, self.cfg.timeout)
        except OSError as e:
            raise SSHError(f"{where}{e}", state=HOST_UNREACHABLE) from None
        self._resolving = None
        errors: list[tuple[str, OSError]] = []
        seen = set()
        for family, type_, proto, _, sockaddr in infos:
            if sockaddr in seen:
                continue
            seen.add(sockaddr)
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, sockaddr)
                return sock
            except OSError as e:
                sock.close()
                errors.append((str(sockaddr[0]), e))
            except BaseException:
                sock.close()
                raise
        tried = "" if resolve.is_address(hop.host) else f" ({', '.join(a for a, _ in errors)})"
        if errors and all(isinstance(e, ConnectionRefusedError) for _, e in errors):
            raise SSHError(f"{where}connection refused by {hop.address}{tried}", state=HOST_UNREACHABLE)
        reason = errors[-1][1].strerror or str(errors[-1][1]) if errors else "no address"
        raise SSHError(f"{where}cannot connect to {hop.address}{tried}: {reason}", state=HOST_UNREACHABLE)

    def _host_key_error(
        self, hop: Hop, where: str, matched: openssh.KnownResult, check: "_HostKeyCheck", detail: str
    ) -> SSHError:
        c = self.cfg
        name = hop.known_name
        presented = check.presented.get_fingerprint() if check.presented is not None else None
        shown = f", presented {presented}" if presented else ""
        if "revoked" in detail:
            return SSHError(
                f"{where}host key of {name} is @revoked in {c.known_hosts}; refused", state=HOST_KEY_MISMATCH
            )
        if not openssh.vouches(matched):
            return SSHError(
                f"{where}host key for {name} not in known_hosts file {c.known_hosts}{shown} "
                '(add it, or set host_key_policy = "accept-new")',
                state=HOST_KEY_UNKNOWN,
            )
        if not matched[0]:  # only an @cert-authority line for this name
            if check.presented_ca is not None:
                shown = f", presented a certificate from CA {check.presented_ca.get_fingerprint()}"
            return SSHError(
                f"{where}host key for {name} is not certified by its @cert-authority in {c.known_hosts}{shown}; refused",
                state=HOST_KEY_MISMATCH,
            )
        # A changed key: show both fingerprints, loudly, and never accept it.
        known_fps = ", ".join(dict.fromkeys(k.get_fingerprint() for k in matched[0]))
        return SSHError(
            f"{where}HOST KEY CHANGED for {name}: known {known_fps}, presented {presented or 'unknown'}; refused "
            f"(possible man-in-the-middle; fix {c.known_hosts} only after checking)",
            state=HOST_KEY_MISMATCH,
        )

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
            conn = self._conn
            if conn is None or conn.is_closed():  # else no task and timer per poll just to find it open
                try:
                    # connection() keeps the deadline itself and says which hop or name missed
                    # it; this one only bounds a wait for another caller's connect.
                    conn = await asyncio.wait_for(self.connection(timeout), timeout + 1)
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
                self._shell = RemoteShell(proc, self.cfg.max_output)
            try:
                return await self._shell.request(script, max(0.1, deadline - loop.time()))
            except SSHError:
                self._drop_shell()
                if self._conn is not None and self._conn.is_closed():
                    self._set_conn(None)
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
        """One exec channel through the one remote runner (remote.py): streamed,
        capped at the host's ``max_output``, its process group stopped on the host
        on timeout, cancellation, the cap, or when this process dies."""
        conn = await self.connection()

        async def start(inv: remote.Invocation) -> remote.Process:
            try:
                return _ExecChannel(await conn.create_process(inv.command_line(env), encoding=None))
            except (asyncssh.Error, OSError) as e:
                await self._reset()
                raise SSHError(f"connection lost: {e}", state=HOST_ERROR) from None

        try:
            return await remote.run_command(
                start, command, timeout=timeout, input=input, max_output=self.cfg.max_output
            )
        except (asyncssh.Error, OSError) as e:
            raise SSHError(f"connection lost mid-command: {e}", state=HOST_ERROR) from None

    def _set_conn(self, conn: asyncssh.SSHClientConnection | None) -> None:
        """Every change of the host's connection goes through here, so the fleet's churn
        (what gcpolicy.Settler freezes and sweeps by) counts each one."""
        if self._conn is not None:
            self._churn.dropped += 1
        if conn is not None:
            self._churn.opened += 1
        self._conn = conn

    async def _reset(self) -> None:
        self._drop_shell()
        if self._conn is not None:
            self._conn.close()
            self._set_conn(None)

    async def close(self) -> None:
        if self._attempt is not None:  # a handshake nobody will use
            self._attempt.cancel()
            await asyncio.wait([self._attempt])
        self._drop_shell()
        if self._conn is not None:
            self._conn.close()
            try:
                await asyncio.wait_for(self._conn.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):
                pass
            self._set_conn(None)


class _ExecChannel:
    """remote.Process over an asyncssh exec channel. Closing the channel is what
    stops the command: sshd then closes the wrapper's stdin (see remote.py)."""

    def __init__(self, proc: asyncssh.SSHClientProcess):
        self._proc = proc

    async def read_stdout(self, n: int) -> bytes:
        return await self._proc.stdout.read(n)

    async def read_stderr(self, n: int) -> bytes:
        return await self._proc.stderr.read(n)

    def write(self, data: bytes) -> None:
        self._proc.stdin.write(data)

    def stop(self) -> None:
        try:
            self._proc.stdin.write_eof()
        except (asyncssh.Error, OSError):
            self._proc.close()  # the channel is going anyway; closing it says "stop" as well

    def abandon(self) -> None:
        """The runner's last call (remote.run_command's finally): no read or write follows.
        Each of the process's streams points back at the process, so an exec run left a
        cycle of 26 objects (process, channel, streams, their locks) that only a full GC pass
        frees. At 5000 hosts the first patches poll left 130k of them, and the full pass that
        freed them stalled the loop for a second (bench/RESULTS.md). Without the links the
        process and its streams go by reference counting, when the runner drops them."""
        self._proc.close()
        p = self._proc
        p._stdin = p._stdout = p._stderr = None  # asyncssh's own slots, Optional and read only by the properties

    async def exit_status(self, timeout: float) -> tuple[int | None, str | None]:
        try:
            await asyncio.wait_for(self._proc.wait_closed(), timeout)
        except (asyncio.TimeoutError, asyncssh.Error, OSError):
            return None, None
        sig = self._proc.exit_signal
        return self._proc.exit_status, (sig[0] if sig else None)
