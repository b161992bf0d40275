"""OpenSSH's rules for where a hop is and which known_hosts line vouches for it.

- ``effective()`` reads ssh_config as asyncssh (and ssh) does: HostName, Port,
  User, HostKeyAlias, ProxyJump and ProxyCommand of one hop. opsdash's own
  ``port`` and ``user`` win over the file, like ``ssh -p`` and ``-l``.
- The known_hosts name is OpenSSH's: the HostKeyAlias as written, else the
  effective HostName, as ``[host]:port`` when the port is not 22. Lookups use
  that one name (hashed ``|1|salt|hash`` lines match it too) and never fall back
  to the bare host for another port, and never to the address (OpenSSH's
  CheckHostIP is off by default): a key known for ``web3`` or for port 22 says
  nothing about ``[127.0.0.1]:33023``. ``@revoked`` and ``@cert-authority``
  lines are honoured.
- accept-new appends ``<name> <type> <base64>``, unhashed, once.

Everything here reads files and is synchronous: callers run it in a thread.
"""

from __future__ import annotations

import getpass
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import asyncssh
from asyncssh.config import SSHClientConfig

DEFAULT_PORT = 22

_append_lock = threading.Lock()


def put_host_port(host: str, port: int) -> str:
    """OpenSSH's known_hosts spelling of a host and port."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def show_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Hop:
    """One SSH hop as ssh_config makes it."""

    alias: str  # the name asked for; ssh_config's Host patterns match it
    host: str  # the effective HostName
    port: int
    user: str
    host_key_alias: str | None
    proxy_jump: str | None
    proxy_command: bool
    has_identity_file: bool
    sets_host_key_algorithms: bool = False
    sets_ciphers: bool = False  # ssh_config's Ciphers: then its order, not our preference, decides

    @property
    def address(self) -> str:
        """What errors say was tried: the effective host and port."""
        return show_address(self.host, self.port)

    @property
    def known_name(self) -> str:
        return self.host_key_alias or put_host_port(self.host, self.port)


def config_paths(ssh_config: str | None) -> list[str]:
    path = os.path.expanduser(ssh_config) if ssh_config else None
    return [path] if path and os.path.exists(path) else []


def effective(alias: str, port: int | None, user: str | None, paths: Sequence[str]) -> Hop:
    """The hop ``alias`` names, after ssh_config."""
    try:
        local_user = getpass.getuser()
    except (KeyError, OSError):
        local_user = ""
    cfg = SSHClientConfig.load(None, list(paths), False, False, False, local_user, user or (), alias, port or ())
    jump = cfg.get("ProxyJump")
    if isinstance(jump, str) and jump.strip().lower() == "none":
        jump = None
    return Hop(
        alias=alias,
        host=str(cfg.get("Hostname", alias)),
        port=int(cfg.get("Port", DEFAULT_PORT)),  # type: ignore[arg-type]
        user=str(cfg.get("User", local_user)),
        host_key_alias=cfg.get("HostKeyAlias"),  # type: ignore[arg-type]
        proxy_jump=jump or None,  # type: ignore[arg-type]
        proxy_command=bool(cfg.get("ProxyCommand")),
        has_identity_file=bool(cfg.get("IdentityFile")),
        sets_host_key_algorithms=bool(cfg.get("HostKeyAlgorithms")),
        sets_ciphers=bool(cfg.get("Ciphers")),
    )


@dataclass(frozen=True)
class JumpSpec:
    user: str | None
    host: str
    port: int | None


def parse_jumps(spec: str) -> list[JumpSpec]:
    """``[user@]host[:port][,...]`` as ProxyJump and ``ssh -J`` take it (``[v6]:port`` too)."""
    hops = []
    for part in spec.split(","):
        part = part.strip()
        if part.startswith("ssh://"):
            part = part[len("ssh://") :]
        user, _, hostport = part.rpartition("@")
        port: int | None = None
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        else:
            host, sep, p = hostport.rpartition(":")
            if sep and p.isdigit() and host:
                port = int(p)
            else:
                host = hostport
        if not host:
            raise ValueError(f"jump {part!r}: no host")
        hops.append(JumpSpec(user or None, host, port))
    return hops


# --- known_hosts ----------------------------------------------------------------------

KnownResult = tuple[Any, ...]  # asyncssh's 7 lists: host keys, CA keys, revoked keys, then X.509


_parsed: dict[tuple[str, int, int, int], asyncssh.SSHKnownHosts] = {}
_parsed_lock = threading.Lock()


def load_known_hosts(path: str | None) -> asyncssh.SSHKnownHosts:
    """The file parsed; a missing file is an empty one. Raises OSError or ValueError.

    Fifty hosts reconnecting share one known_hosts file: it is parsed once per
    version (inode, size, mtime), not once per hop."""
    p = os.path.expanduser(path) if path else None
    if not p:
        return asyncssh.SSHKnownHosts()
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return asyncssh.SSHKnownHosts()
    version = (p, st.st_ino, st.st_size, st.st_mtime_ns)
    with _parsed_lock:
        known = _parsed.get(version)
    if known is None:
        known = asyncssh.import_known_hosts(Path(p).read_text())
        with _parsed_lock:
            for old in [v for v in _parsed if v[0] == p]:
                del _parsed[old]  # only the newest version of a file is kept
            _parsed[version] = known
    return known


def lookup(known: asyncssh.SSHKnownHosts, name: str) -> KnownResult:
    """The lines for exactly ``name`` (``port=None``: asyncssh's retry without the port is not OpenSSH's)."""
    return tuple(known.match(name, "", None))


def lookup_file(path: str | None, name: str) -> KnownResult:
    return lookup(load_known_hosts(path), name)


def vouches(result: KnownResult) -> bool:
    """Does known_hosts say anything about this name (a key or a CA)?"""
    return bool(result[0] or result[1])


def key_text(key: asyncssh.SSHKey) -> str:
    """``<type> <base64>``, without the comment."""
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def append_known_host(path: str, name: str, key: asyncssh.SSHKey) -> bool:
    """Append ``name key`` unless the file already holds this key for the name (another hop wrote it)."""
    p = Path(os.path.expanduser(path))
    with _append_lock:
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            data = b""
        if key in lookup(asyncssh.import_known_hosts(data.decode(errors="replace")), name)[0]:
            return False
        p.parent.mkdir(parents=True, exist_ok=True)
        lead = "\n" if data and not data.endswith(b"\n") else ""  # a hand-edited last line stays whole
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(f"{lead}{name} {key_text(key)}\n")
        return True
