"""An SSH server that misbehaves on purpose, run as its own process.

    python tests/support/fault_sshd.py MODE PORT HOSTKEY

MODE:
  drop     accept the session, then cut the TCP connection mid-command
  stall    send half a reply, then nothing, forever
  garbage  reply with bytes that are not health output (then the end marker)
  flood    send data without end, never the marker (gigabytes if we let it)

Prints "ready" when listening. Stopped by PID from the tests.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

import asyncssh

MARKER = re.compile(rb"=== end %s rc=")


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False  # no authentication needed: this server tests failure paths, not auth


def make_handler(mode: str):
    async def handle(process: asyncssh.SSHServerProcess) -> None:
        buf = b""
        try:
            while True:
                chunk = await process.stdin.read(65536)
                if not chunk:
                    return
                buf += chunk
                m = re.search(rb"printf '=== end ([0-9a-f]+) rc=", buf)
                if not m:
                    continue
                token = m.group(1)
                buf = b""
                if mode == "drop":
                    process.channel.get_connection().abort()
                    return
                if mode == "stall":
                    process.stdout.write(b"=== loadavg ===\n0.10 0.20 0.30 1/1 1\n=== uptime ===\n")
                    await asyncio.sleep(3600)
                if mode == "garbage":
                    process.stdout.write(os.urandom(512).replace(b"\n=== end", b"") + b"\n")
                    process.stdout.write(b"=== end " + token + b" rc=0 ===\n")
                if mode == "flood":
                    block = b"x" * 65535 + b"\n"
                    while True:
                        process.stdout.write(block)
                        await process.stdout.drain()
        except (asyncssh.Error, OSError, BrokenPipeError):
            return
        finally:
            process.exit(0)

    return handle


async def main(mode: str, port: int, hostkey: str) -> None:
    server = await asyncssh.create_server(
        _Server, "127.0.0.1", port, server_host_keys=[hostkey], process_factory=make_handler(mode),
        encoding=None, line_editor=False,
    )
    print("ready", flush=True)
    async with server:
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
