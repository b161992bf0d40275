"""The demo fleet process: ``python -m opsdash.demo.fleet --dir D --hosts N``.

One asyncssh listener on 127.0.0.1 serves every host: the SSH user name is
the host name, so 1000 hosts cost one port and one known_hosts line. It
answers what the real probes send, recognised by content (the probes'
scripts are the contract; nothing in them was changed for the demo):

- the health poll: a long-lived ``LC_ALL=C exec sh`` that receives
  collect/health.py's script (``# opsdash-request health``) followed by the
  ``printf '=== end TOKEN rc=%d ===\\n' $?`` marker line;
- ``sh -s`` scripts built on patches.run_script's ``sec NAME CMD`` sections
  (patches: apt; backups: restic freshness and restore tests), answered
  section by section with the script's own nonce;
- ``redis-cli INFO``, memcached ``stats`` over /dev/tcp, and ``curl -w``
  from a remote vantage (a real HTTP request to the demo endpoints, timed).

One HTTP server serves the six endpoints at ``/NAME``. A host that the story
takes down has its connections closed and new logins dropped.

When listening, the fleet writes ``D/fleet.json`` (ports, pid). It stops on
SIGTERM/SIGINT/SIGHUP, and by itself when ``--parent-pid`` goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shlex
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncssh

from . import checks, render, story

HOST_KEY = "ssh_host_ed25519_key"
CLIENT_KEY = "client_ed25519"
READY_FILE = "fleet.json"


class Clock:
    """Story time from the process's monotonic clock: ``start + speed * elapsed``."""

    def __init__(self, start: float = 0.0, speed: float = 1.0):
        self.start, self.speed = start, speed
        self._m0, self.w0 = time.monotonic(), time.time()

    def now(self) -> float:
        return self.start + self.speed * (time.monotonic() - self._m0)

    def wall(self, s: float) -> float:
        """Unix time of story time ``s``."""
        return self.w0 + (s - self.start) / self.speed


# --- SSH -----------------------------------------------------------------------------

_SHELL_END = re.compile(r"printf '=== end (\w+) rc=%d ===\\n' \$\?\n")
_CURL_CONFIG_LINE = re.compile(r'^([a-z-]+) = "((?:[^"\\]|\\.)*)"$')
_CURL_ESCAPE = re.compile(r"\\(.)", re.S)
_CURL_UNESCAPE = {"t": "\t", "n": "\n", "r": "\r", "v": "\v"}
_NONCE = re.compile(r"=== (\w+) %s rc=%d ===")
_SEC = re.compile(r"(?:^|[;\s])sec ([A-Za-z_][\w.]*)([^\n;]*)", re.M)
_REPO = re.compile(r"RESTIC_REPOSITORY=(\S+); export")


def unwrap_env(cmd: str) -> str:
    """The command inside ``env VAR=v ... sh -c 'COMMAND'`` (how runner.with_env sends it)."""
    if not cmd.startswith("env "):
        return cmd
    try:
        words = shlex.split(cmd)
    except ValueError:
        return cmd
    i = 1
    while i < len(words) and words[i].partition("=")[0].isidentifier() and "=" in words[i]:
        i += 1
    rest = words[i:]
    if rest[:4] == ["sh", "-c", 'eval "$OPSDASH_RUN"', "opsdash-run"] and len(rest) == 9:
        return rest[8]  # collect/remote.py's wrapper: $1 nonce, $2 input length, ..., $5 the command
    if rest[:2] == ["sh", "-c"] and len(rest) == 3:
        return rest[2]
    return shlex.join(rest)


def input_length(cmd: str) -> int | None:
    """How many bytes of stdin are the command's input under remote.py's wrapper (which
    keeps stdin open after them: EOF means "stop"), or None for a plain command."""
    m = re.search(r"""'eval "\$OPSDASH_RUN"' opsdash-run \S+ (\d+) """, cmd)
    return int(m.group(1)) if m else None


class _Server(asyncssh.SSHServer):
    def __init__(self, fleet: "Fleet"):
        self.fleet = fleet
        self.conn: asyncssh.SSHServerConnection | None = None
        self.user: str | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        if self.user is not None:
            self.fleet.conns.get(self.user, set()).discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        self.user = username
        assert self.conn is not None
        if username in self.fleet.hosts and not story.host_up(username, self.fleet.clock.now()):
            asyncio.get_running_loop().call_soon(self.conn.abort)  # a host that is down drops us
        self.fleet.conns.setdefault(username, set()).add(self.conn)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username in self.fleet.hosts and key.public_data == self.fleet.client_key.public_data


class Fleet:
    def __init__(self, hosts: list[story.Host], clock: Clock, client_key: asyncssh.SSHKey):
        self.hosts = {h.name: h for h in hosts}
        self.clock = clock
        self.client_key = client_key
        self.conns: dict[str, set[asyncssh.SSHServerConnection]] = {}
        self.requests = 0

    # --- sessions ---

    async def handle(self, process: asyncssh.SSHServerProcess) -> None:
        h = self.hosts.get(process.get_extra_info("username"))
        cmd = process.command or ""
        try:
            if h is None:
                process.exit(1)
            elif re.search(r"\bexec sh\s*$", cmd):
                await self._shell(process, h)
            else:
                rc, out, err = await self._exec(process, h, unwrap_env(cmd.strip()))
                process.stdout.write(out)
                if err:
                    process.stderr.write(err)
                process.exit(rc)
        except (OSError, asyncssh.Error, asyncio.IncompleteReadError):
            process.close()  # the client went away, or the host went down

    async def _shell(self, process: asyncssh.SSHServerProcess, h: story.Host) -> None:
        buf = ""
        while True:
            data = await process.stdin.read(65536)
            if not data:
                break
            buf += data
            while m := _SHELL_END.search(buf):
                script, buf = buf[: m.start()], buf[m.end():]
                self.requests += 1
                if "# opsdash-request health" in script:
                    out, rc = render.health(h, self.clock.now()), 0
                else:
                    out, rc = "", 127
                process.stdout.write(f"{out}=== end {m.group(1)} rc={rc} ===\n")
        process.exit(0)

    async def _stdin(self, process: asyncssh.SSHServerProcess) -> str:
        n = input_length(process.command or "")
        return await process.stdin.read() if n is None else (await process.stdin.readexactly(n) if n else "")

    async def _exec(self, process: asyncssh.SSHServerProcess, h: story.Host, cmd: str) -> tuple[int, str, str]:
        self.requests += 1
        t = self.clock.now()
        if cmd.startswith("sh -s"):
            return await self._script(h, await self._stdin(process), t)
        if re.match(r"^(LC_ALL=C )?curl ", cmd):
            # The URL and headers come as a curl config on stdin (-K -), never on the command line.
            return await self._curl(cmd, await self._stdin(process) if re.search(r" -K -$", cmd) else "")
        if "redis-cli" in cmd:
            c = next((c for c in h.caches if c.kind == "redis"), None)
            return (0, render.redis_info(h, c, t), "") if c else (1, "", "Could not connect to Redis: Connection refused\n")
        if "stats\\r\\nquit" in cmd:
            c = next((c for c in h.caches if c.kind == "memcached"), None)
            return (0, render.memcached_stats(h, c, t), "") if c else (7, "", "bash: connect: Connection refused\n")
        word = cmd.split()[0] if cmd.split() else "sh"
        return 127, "", f"sh: 1: {word}: not found\n"

    # --- `sh -s` scripts with `sec` sections ---

    async def _script(self, h: story.Host, script: str, t: float) -> tuple[int, str, str]:
        m = _NONCE.search(script)
        if not m:
            return 2, "", "sh: 1: Syntax error: unexpected end of file\n"
        nonce, secs = m.group(1), _SEC.findall(script)
        names = {name for name, _ in secs}
        repo = _REPO.search(script)
        if {"apt", "manager", "uname"} & names:
            await asyncio.sleep(0.2 + 0.4 * story.rand(h.name, "apt", round(t)))
            answer = lambda name, args: self._patches(h, name, t)  # noqa: E731
        elif repo:
            backup = next((b for b in h.backups if b.repository == shlex.split(repo.group(1))[0]), None)
            restoring = "restore" in names
            await asyncio.sleep((1.0 + 1.5 * story.rand(h.name, "restore", round(t))) if restoring else 0.1)
            answer = lambda name, args: self._restic(h, backup, name, args, t)  # noqa: E731
        else:
            answer = lambda name, args: (127, "", f"sh: 1: {args.split()[0] if args.split() else name}: not found\n")  # noqa: E731
        out = []
        for name, args in secs:
            r = answer(name, args.strip())
            if r is not None:
                rc, so, se = r
                out.append(f"\n=== {nonce} {name} rc={rc} ===\n{so}\n=== {nonce} {name}.stderr rc={rc} ===\n{se[:4096]}")
        out.append(f"\n=== {nonce} end rc=0 ===\n")
        return 0, "".join(out), ""

    def _patches(self, h: story.Host, name: str, t: float) -> tuple[int, str, str] | None:
        p = story.patches(h, t)
        if name == "manager":
            return 0, "apt-get\n", ""
        if name == "apt":
            return 0, render.apt_simulate(h, t), ""
        if name == "history":
            return 0, render.apt_history(h, t, self.clock.wall), ""
        if name == "uname":
            return 0, story.RUNNING_KERNEL + "\n", ""
        if name == "boot":
            return 0, render.boot_listing(h, t), ""
        if name == "tz":
            return 0, "+0000\n", ""
        if name == "reboot_required" and p.reboot_required:
            return 0, "*** System restart required ***\n", ""
        if name == "reboot_pkgs" and p.reboot_required:
            return 0, f"linux-image-{story.NEWER_KERNEL}\n", ""
        return None  # a section for another package manager, or a file that is not there

    def _restic(self, h: story.Host, b: story.Backup | None, name: str, args: str, t: float) -> tuple[int, str, str] | None:
        if b is None:
            return 1, "", "Fatal: unable to open config file: stat config: no such file or directory\n"
        wall = self.clock.wall
        if name == "snapshots":
            return 0, render.restic_snapshots(h, b, t, wall), ""
        if name == "du":
            return 0, f"{int(1.5e6 + b.sample_size / 1024 * 14)}\t{b.repository}\n", ""
        if name in ("ls", "restore"):
            words = shlex.split(args)  # restic [--no-cache] ls|restore [--json] ID ...
            after = words[words.index(name) + 1:] if name in words else []
            snap_id = next((w for w in after if not w.startswith("-")), "")
            st = render.find_snapshot(h, b, snap_id, t)
            if st is None:
                return 1, "", f"Fatal: no matching ID found for prefix \"{snap_id}\"\n"
            if name == "ls":
                return 0, render.restic_ls(h, b, st, wall), ""
            return render.restic_restore(h, b, st, t, wall)
        if not story.restore_ok(h, b, t):
            return None  # the failed restore left no file behind
        if name == "restored_size":
            return 0, f"{b.sample_size}\n", ""
        if name in ("restored_sha", "dump_sha"):
            return 0, render.sample_sha256(h, b) + "\n", ""
        if name == "check":
            return 0, "using temporary cache\nno errors were found\n", ""
        return None

    # --- curl from a remote vantage: a real request, timed like curl -w ---

    async def _curl(self, cmd: str, config: str = "") -> tuple[int, str, str]:
        argv = shlex.split(cmd)
        argv = argv[argv.index("curl") + 1:]
        opts: dict[str, str] = {}
        for i, a in enumerate(argv):
            if a in ("--max-time", "-w", "--url", "-X") and i + 1 < len(argv):
                opts[a] = argv[i + 1]
        for line in config.split("\n"):  # parsers/curl.py's config: option = "value", backslash-escaped
            if m := _CURL_CONFIG_LINE.match(line):
                opts["--" + m.group(1)] = _CURL_ESCAPE.sub(lambda e: _CURL_UNESCAPE.get(e.group(1), e.group(1)), m.group(2))
        method = "HEAD" if "--head" in argv else opts.get("-X", "GET")
        url = urlsplit(opts.get("--url", ""))
        values = {k: "0.000000" for k in ("time_namelookup", "time_connect", "time_appconnect", "time_pretransfer",
                                          "time_redirect", "time_starttransfer", "time_total")}
        values.update(http_code="000", size_download="0", remote_ip="", exitcode="0")
        headers: dict[str, str] = {}
        rc, err = 0, ""
        if url.hostname not in ("127.0.0.1", "localhost"):
            rc, err = 6, f"curl: (6) Could not resolve host: {url.hostname}\n"
        else:
            rc, err = await _timed_get(url.hostname, url.port or 80, url.path or "/", method,
                                       float(opts.get("--max-time", "10")), values, headers)
        values["exitcode"] = str(rc)
        return rc, _write_out(opts.get("-w", ""), values, headers), err

    # --- HTTP endpoints ---

    async def http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            name = path.split("?")[0].strip("/")
            t = self.clock.now()
            ep = next((e for e in story.ENDPOINTS if e.name == name), None)
            extra = ""
            if ep is None:
                status, body = 404, "not found\n"
            else:
                await asyncio.sleep(story.endpoint_latency_ms(name, t) / 1000.0)
                status = story.endpoint_status(name, t)
                body = f"<html><body>{name}: {'ok' if status == 200 else 'unavailable'}</body></html>\n" + " " * 2048
                if ep.cached:
                    hit = story.cache_hit(name, t)
                    extra = f"X-Cache: {'HIT' if hit else 'MISS'} from edge-{1 + int(t) % 3}\r\n"
                    extra += f"Age: {1 + int(t) % 90}\r\n" if hit else ""
                else:
                    extra = "Cache-Control: no-store\r\n"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            data = body.encode()
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nServer: opsdash-demo\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(data)}\r\n{extra}Connection: close\r\n\r\n".encode()
                + (b"" if method == "HEAD" else data)
            )
            await writer.drain()
        except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    # --- the story's side effects on connections ---

    def drop_down_hosts(self) -> None:
        t = self.clock.now()
        for name, conns in self.conns.items():
            if conns and name in self.hosts and not story.host_up(name, t):
                for c in list(conns):
                    c.abort()
                conns.clear()


async def _timed_get(host: str, port: int, path: str, method: str, max_time: float,
                     values: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    fmt = lambda: f"{loop.time() - t0:.6f}"  # noqa: E731
    writer = None
    try:
        async with asyncio.timeout(max_time):
            values["time_namelookup"] = "0.000021"
            reader, writer = await asyncio.open_connection(host, port)
            values["time_connect"] = values["time_pretransfer"] = fmt()
            values["remote_ip"] = "127.0.0.1"
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: curl/7.88.1\r\n"
                         "Accept: */*\r\n\r\n".encode())
            status_line = await reader.readline()
            values["time_starttransfer"] = fmt()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            for line in head.split("\r\n"):
                k, sep, v = line.partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            body = await reader.read(-1) if method != "HEAD" else b""
            values["time_total"] = fmt()
            values["http_code"] = status_line.split()[1].decode()
            values["size_download"] = str(len(body))
            return 0, ""
    except ConnectionRefusedError:
        return 7, f"curl: (7) Failed to connect to {host} port {port} after 0 ms: Couldn't connect to server\n"
    except TimeoutError:
        return 28, f"curl: (28) Operation timed out after {int(max_time * 1000)} milliseconds\n"
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return 52, "curl: (52) Empty reply from server\n"
    finally:
        if writer is not None:
            writer.close()


def _write_out(fmt: str, values: dict[str, str], headers: dict[str, str]) -> str:
    """Expand curl's ``-w`` format: ``%{var}``, ``%header{name}``, ``\\n``."""
    out = re.sub(r"%header\{([^}]*)\}", lambda m: headers.get(m.group(1).lower(), ""), fmt)
    out = re.sub(r"%\{([^}]*)\}", lambda m: values.get(m.group(1), ""), out)
    return out.replace("\\n", "\n")


# --- the process ----------------------------------------------------------------------


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _parent_gone(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return os.getppid() != pid


async def serve(args: argparse.Namespace) -> None:
    d = Path(args.dir)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    clock = Clock(args.start, args.speed)
    fleet = Fleet(story.fleet(args.hosts), clock, asyncssh.read_public_key(d / f"{CLIENT_KEY}.pub"))
    ssh = await asyncssh.listen(
        "127.0.0.1", args.port, server_factory=lambda: _Server(fleet),
        server_host_keys=[str(d / HOST_KEY)], process_factory=fleet.handle, encoding="utf-8",
        allow_pty=False, x11_forwarding=False, agent_forwarding=False, allow_scp=False,
        backlog=4096, reuse_address=True, login_timeout=30,
    )
    http = await asyncio.start_server(fleet.http, "127.0.0.1", args.http_port, backlog=1024)
    # The [[dns]] and [[journeys]] checks' servers (demo/checks.py), on ports the kernel picks.
    dns_transport, _ = await loop.create_datagram_endpoint(lambda: checks.DNSResponder(clock.now),
                                                           local_addr=("127.0.0.1", 0))
    shop = await asyncio.start_server(checks.shop_handler(clock.now), "127.0.0.1", 0, backlog=256)
    ready = {"pid": os.getpid(), "ssh_port": ssh.get_port(), "http_port": http.sockets[0].getsockname()[1],
             "dns_port": dns_transport.get_extra_info("sockname")[1], "shop_port": shop.sockets[0].getsockname()[1],
             "hosts": args.hosts, "story_start": args.start, "speed": args.speed, "started_at": clock.w0}
    tmp = d / (READY_FILE + ".tmp")
    tmp.write_text(json.dumps(ready) + "\n")
    os.replace(tmp, d / READY_FILE)
    try:
        while not stop.is_set():
            fleet.drop_down_hosts()
            if _parent_gone(args.parent_pid):
                break
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
    finally:
        http.close()
        shop.close()
        dns_transport.close()
        ssh.close()
        for conns in fleet.conns.values():
            for c in list(conns):
                c.abort()
        await ssh.wait_closed()
        try:
            await asyncio.wait_for(http.wait_closed(), 2)
        except asyncio.TimeoutError:
            pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m opsdash.demo.fleet", description="the opsdash demo fleet")
    p.add_argument("--dir", required=True, help="directory with the keys (opsdash.demo.config.make_keys); fleet.json goes here")
    p.add_argument("--hosts", type=int, default=12)
    p.add_argument("--port", type=int, default=0, help="SSH port (0: any free port; see fleet.json)")
    p.add_argument("--http-port", type=int, default=0)
    p.add_argument("--start", type=float, default=0.0, help="story time at launch, in seconds")
    p.add_argument("--speed", type=float, default=1.0, help="story seconds per real second")
    p.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    args = p.parse_args(argv)
    if args.hosts < 1 or args.speed <= 0:
        p.error("--hosts must be >= 1 and --speed > 0")
    _raise_fd_limit()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
