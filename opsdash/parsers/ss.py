"""``ss -tulpnH``: the listening TCP and UDP sockets of a host.

Columns: netid, state, recv-q, send-q, local address:port, peer, then (with -p,
and only for sockets the caller may see) ``users:(("name",pid=N,fd=N),...)``.
The local address is ``A.B.C.D:P``, ``[v6]:P``, ``*:P`` or ``addr%iface:P``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

__all__ = ["Listener", "parse_ss"]


@dataclass(frozen=True, slots=True)
class Listener:
    proto: str  # "tcp" | "udp"
    address: str
    port: int
    process: str  # "" when ss could not name it (another user's socket, as non-root)

    @property
    def key(self) -> str:
        """What ``expect_listen`` names: "22/tcp"."""
        return f"{self.port}/{self.proto}"


_PROC = re.compile(r'users:\(\("([^"]*)"')


def parse_ss(text: str) -> list[Listener]:
    out: list[Listener] = []
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if len(f) < 5 or f[0] not in ("tcp", "udp"):
            raise ParseError("ss -tulpnH: unexpected line", line[:120])
        addr, _, port = f[4].rpartition(":")
        if not port.isdigit():
            raise ParseError("ss -tulpnH: no port in the local address", f[4][:120])
        m = _PROC.search(line)
        out.append(Listener(f[0], addr.strip("[]"), int(port), m.group(1) if m else ""))
    return out
