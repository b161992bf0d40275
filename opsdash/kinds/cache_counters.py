"""Read a cache's lifetime counters on a host, whatever its kind (the caches kind's probe).

``read_counters(runner, cfg, timeout=..., state=...)`` runs one shell command
through the one remote runner (SSH or local) and parses the reply with the pure parsers
in ``opsdash.parsers``. ``state`` is a dict the caller keeps per cache between
polls; only nginx-log uses it (file position and running counts).

How each kind is reached, and why:
- redis: ``redis-cli INFO server`` + ``INFO stats`` (uptime, then hits,
  misses, commands; two calls because ``INFO a b`` needs Redis >= 7). The
  password is read from ``password_file`` *on the host* into REDISCLI_AUTH,
  so it never travels in a command line or shows in ``ps``. Without
  redis-cli the same questions are asked in RESP over a plain TCP socket.
- memcached: the text protocol (``stats`` then ``quit``, so the server
  closes and the read ends) over bash's /dev/tcp. bash is Essential on
  Debian and always there; netcat is not (the fixture VM, a stock Debian 12,
  has none) and its variants disagree on flags (-q1, -N, -w), so nc is only
  a fallback, used without flags.
- varnish: ``varnishstat -j`` filtered to the four counters we read.
- nginx-log: only the bytes appended since the last poll, found by inode and
  byte offset; rotation (new inode) and truncation (size < offset) restart at
  the beginning, and the rest of a rotated file is read from ``PATH.1``.

Every config value reaches the shell through shlex.quote.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from ..errors import ParseError, ProbeError
from ..model import CacheCounters
from ..parsers.memcached import parse_memcached_stats
from ..parsers.nginx_log import CacheStatusCounts, parse_cache_status_lines
from ..parsers.redis import parse_redis_info
from ..parsers.varnish import parse_varnishstat_json
from .base import Command as CommandResult
from .base import CommandRunner as Runner
from .base import sh_join

__all__ = [
    "CacheConfig",
    "NGINX_READ_CAP",
    "memcached_command",
    "nginx_log_command",
    "read_counters",
    "redis_command",
    "split_address",
    "varnish_command",
]

@dataclass(frozen=True)
class CacheConfig:
    """One ``[[hosts.caches]]`` entry (checked by kinds/caches.py)."""

    name: str
    kind: str  # redis | memcached | varnish | nginx-log
    address: str = ""
    path: str = ""
    password_file: str = ""
    interval: float | None = None  # None: the host's interval


DEFAULT_PORTS = {"redis": 6379, "memcached": 11211}
# Most bytes of a log read per poll (and per segment). A backlog larger than
# this is skipped to its newest part: the hit rate stays current, the counts
# undercount. Two segments plus headers stay under the runner's 8 MiB cap.
NGINX_READ_CAP = 3 * 1024 * 1024

_Q = shlex.quote

# Exit codes our own shell snippets use.
_RC_NO_TOOL = 127
_RC_NO_PASSWORD = 126
_RC_TIMEOUT = 124  # coreutils timeout
_RC_NO_LOG = 66


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """'10.0.0.5:6379' / '[::1]:6379' / 'cache-1' -> (host, port)."""
    address = address.strip() or "127.0.0.1"
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", address)
    if m:
        host, port = m.group(1), m.group(2)
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:
        host, port = address, None  # a name, or a bare IPv6 address
    if not host or host.startswith("-"):  # quoting does not stop an option
        raise ProbeError(f"cache address {address!r}: not a host name")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ProbeError(f"cache address {address!r}: port must be 1-65535")
    return host, int(port) if port is not None else default_port


def _preamble(timeout: float) -> str:
    # LC_ALL=C: byte semantics for ${#var} and stable tool output.
    # `timeout` (coreutils) stops the remote side a little before our own
    # deadline, so nothing lingers on the host after we gave up.
    remote = max(1, int(timeout * 0.9))
    return (
        "LC_ALL=C; export LC_ALL; T=; "
        f"if command -v timeout >/dev/null 2>&1; then T='timeout {remote}'; fi; "
    )


def _tcp_exchange(host: str, port: int, what: str) -> str:
    """Shell that pipes the output of a `req` function to host:port and prints the reply.

    The request must make the server close the connection (quit / QUIT).
    """
    bash_script = 'exec 3<>"/dev/tcp/$0/$1" || exit 7; cat >&3; cat <&3'
    missing = f"opsdash: neither bash nor nc on this host, cannot reach {what} at {host}:{port}"
    return (
        "if command -v bash >/dev/null 2>&1; then "
        f"req | $T bash -c {_Q(bash_script)} {_Q(host)} {_Q(str(port))}; "
        "elif command -v nc >/dev/null 2>&1; then "
        f"req | $T nc {_Q(host)} {_Q(str(port))}; "
        f"else echo {_Q(missing)} >&2; exit {_RC_NO_TOOL}; fi"
    )


def redis_command(cfg: CacheConfig, timeout: float) -> str:
    cmd = _preamble(timeout)
    if cfg.password_file:
        # $(...) drops the trailing newline of the file.
        cmd += (
            f"REDISCLI_AUTH=$(cat -- {_Q(cfg.password_file)}) || exit {_RC_NO_PASSWORD}; "
            "export REDISCLI_AUTH; "
        )
    if cfg.address.startswith("/"):  # a unix socket: redis-cli only
        conn = sh_join(["-s", cfg.address])
        missing = f"opsdash: redis-cli is not installed on this host (needed for the socket {cfg.address})"
        return (
            cmd + "if command -v redis-cli >/dev/null 2>&1; then "
            f"$T redis-cli {conn} INFO server && $T redis-cli {conn} INFO stats; "
            f"else echo {_Q(missing)} >&2; exit {_RC_NO_TOOL}; fi"
        )
    host, port = split_address(cfg.address, DEFAULT_PORTS["redis"])
    conn = sh_join(["-h", host, "-p", str(port)])
    # RESP arrays, so a password with spaces or quotes needs no escaping.
    auth = (
        'if [ -n "${REDISCLI_AUTH-}" ]; then '
        "printf '*2\\r\\n$4\\r\\nAUTH\\r\\n$%s\\r\\n%s\\r\\n' \"${#REDISCLI_AUTH}\" \"$REDISCLI_AUTH\"; fi; "
    )
    info = "printf '*2\\r\\n$4\\r\\nINFO\\r\\n$6\\r\\nserver\\r\\n*2\\r\\n$4\\r\\nINFO\\r\\n$5\\r\\nstats\\r\\n*1\\r\\n$4\\r\\nQUIT\\r\\n'; "
    return (
        cmd + "if command -v redis-cli >/dev/null 2>&1; then "
        f"$T redis-cli {conn} INFO server && $T redis-cli {conn} INFO stats; "
        "else req() { " + auth + info + "}; " + _tcp_exchange(host, port, "redis") + "; fi"
    )


def memcached_command(cfg: CacheConfig, timeout: float) -> str:
    if cfg.address.startswith("/"):
        raise ProbeError(f"memcached {cfg.name}: unix sockets are not supported, use host:port")
    host, port = split_address(cfg.address, DEFAULT_PORTS["memcached"])
    return _preamble(timeout) + "req() { printf 'stats\\r\\nquit\\r\\n'; }; " + _tcp_exchange(host, port, "memcached")


_VARNISH_FIELDS = ("MAIN.cache_hit", "MAIN.cache_miss", "MAIN.client_req", "MAIN.uptime")


def varnish_command(cfg: CacheConfig, timeout: float) -> str:
    args = ["varnishstat", "-j"]
    if cfg.path:  # the instance (-n): a name or a working directory
        args += ["-n", cfg.path]
    for f in _VARNISH_FIELDS:
        args += ["-f", f]
    missing = "opsdash: varnishstat is not installed on this host"
    return (
        _preamble(timeout) + "if command -v varnishstat >/dev/null 2>&1; then "
        f"$T {sh_join(args)}; else echo {_Q(missing)} >&2; exit {_RC_NO_TOOL}; fi"
    )


# --- nginx log: tail by inode and offset -------------------------------------

# Prints one header per segment, "@@opsdash NAME INODE SIZE START LEN", then
# exactly LEN bytes. Bytes outside printable ASCII become "?" one for one, so
# the text we get is as long as the bytes on disk and offsets stay exact
# whatever the log's encoding (cache statuses are ASCII).
_NGINX_SCRIPT = r"""
f=$1 old_ino=$2 off=$3 cap=$4
s=$(stat -L -c '%i %s' -- "$f") || exit 66
ino=${s% *} size=${s#* }
seg() {
  start=$5
  if [ $(( $4 - start )) -gt "$cap" ]; then start=$(( $4 - cap )); fi
  n=$(( $4 - start ))
  printf '@@opsdash %s %s %s %s %s\n' "$1" "$3" "$4" "$start" "$n"
  if [ "$n" -gt 0 ]; then tail -c +$(( start + 1 )) -- "$2" | head -c "$n" | tr -c '\n\40-\176' '?'; fi
}
if [ -z "$old_ino" ]; then
  seg first "$f" "$ino" "$size" 0
elif [ "$ino" != "$old_ino" ]; then
  r=$(stat -L -c '%i %s' -- "$f.1" 2>/dev/null)
  if [ -n "$r" ] && [ "${r% *}" = "$old_ino" ] && [ "${r#* }" -ge "$off" ]; then
    seg old "$f.1" "$old_ino" "${r#* }" "$off"
  fi
  seg new "$f" "$ino" "$size" 0
elif [ "$size" -lt "$off" ]; then
  seg new "$f" "$ino" "$size" 0
else
  seg cur "$f" "$ino" "$size" "$off"
fi
"""

_HEADER_RE = re.compile(r"@@opsdash (first|old|new|cur) (\d+) (\d+) (\d+) (\d+)\n")


def nginx_log_command(path: str, inode: int | None, offset: int, cap: int = NGINX_READ_CAP) -> str:
    args = [path, "" if inode is None else str(inode), str(offset), str(cap)]
    return f"LC_ALL=C sh -c {_Q(_NGINX_SCRIPT)} opsdash-tail {sh_join(args)}"


def _split_segments(stdout: str) -> list[tuple[str, int, int, int, str]]:
    """[(name, inode, start, length, text)] for each segment the script printed."""
    segments = []
    pos = 0
    while pos < len(stdout):
        m = _HEADER_RE.match(stdout, pos)
        if not m:
            raise ParseError("unexpected output from the log reader", stdout[pos : pos + 120].split("\n", 1)[0])
        name, inode, _size, start, n = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
        text = stdout[m.end() : m.end() + n]
        if len(text) != n:
            raise ParseError(f"log read cut short: {len(text)} of {n} bytes", m.group(0).strip())
        segments.append((name, inode, start, n, text))
        pos = m.end() + n
    return segments


async def _read_nginx_log(runner: Runner, cfg: CacheConfig, timeout: float, state: dict[str, Any]) -> CacheCounters:
    if not cfg.path:
        raise ProbeError(f"cache {cfg.name}: kind nginx-log needs a path")
    if state.get("path") != cfg.path:
        state.clear()
        state["path"] = cfg.path
    inode = state.get("inode")
    offset = int(state.get("offset", 0))
    res = await runner.run(nginx_log_command(cfg.path, inode, offset, NGINX_READ_CAP), timeout=timeout)
    if res.rc == _RC_NO_LOG:
        raise ProbeError(f"nginx log {cfg.path}: {_stderr_line(res) or 'cannot stat'}")
    _check_rc(res, f"nginx log {cfg.path}")
    counts = CacheStatusCounts.from_json(state.get("counts", {}))
    new_inode, new_offset = inode, offset
    lines: list[str] = []
    for name, seg_inode, start, _n, text in _split_segments(res.stdout):
        # Where we did not start at a line boundary we know (first poll into
        # an old file, or a backlog larger than the cap), the first line is
        # a fragment.
        expected = offset if name in ("cur", "old") else 0
        body = text
        if start != expected and start > 0:
            nl = body.find("\n")
            body = body[nl + 1 :] if nl >= 0 else ""
        if name == "old":
            lines.extend(body.splitlines())  # finished file: a last line without \n still counts
            continue
        # The last line may still be being written: keep it for the next poll.
        cut = body.rfind("\n") + 1
        lines.extend(body[:cut].splitlines())
        new_inode, new_offset = seg_inode, start + (len(text) - len(body)) + cut
    # Move on even if the lines do not parse: the error is reported once, and
    # the next poll reads fresh lines instead of failing on the same ones.
    state["inode"], state["offset"] = new_inode, new_offset
    counts = counts + parse_cache_status_lines(lines)
    state["counts"] = counts.to_json()
    return counts.to_counters()


# --- common -----------------------------------------------------------------------


def _stderr_line(res: CommandResult) -> str:
    lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _check_rc(res: CommandResult, what: str) -> None:
    if res.rc == 0:
        return
    detail = _stderr_line(res)
    if res.rc == _RC_TIMEOUT:
        raise ProbeError(f"{what}: timed out on the host", state="timeout")
    if res.rc == _RC_NO_TOOL:
        raise ProbeError(f"{what}: {detail or 'a needed tool is not installed on the host'}")
    if res.rc == _RC_NO_PASSWORD:
        raise ProbeError(f"{what}: cannot read the password file: {detail}")
    raise ProbeError(f"{what}: exit {res.rc}: {detail or 'no error message'}")


async def read_counters(runner: Runner, cfg: CacheConfig, *, timeout: float, state: dict[str, Any]) -> CacheCounters:
    """Lifetime counters of one cache. Raises ProbeError (ParseError for output we do not understand)."""
    where = f"{cfg.kind} {cfg.name}"
    if cfg.kind == "nginx-log":
        return await _read_nginx_log(runner, cfg, timeout, state)
    if cfg.kind == "redis":
        res = await runner.run(redis_command(cfg, timeout), timeout=timeout)
        _check_rc(res, where)
        return parse_redis_info(res.stdout)
    if cfg.kind == "memcached":
        res = await runner.run(memcached_command(cfg, timeout), timeout=timeout)
        _check_rc(res, where)
        if not res.stdout.strip():
            raise ProbeError(f"{where}: no reply from {cfg.address or '127.0.0.1:11211'}")
        return parse_memcached_stats(res.stdout)
    if cfg.kind == "varnish":
        res = await runner.run(varnish_command(cfg, timeout), timeout=timeout)
        _check_rc(res, where)
        return parse_varnishstat_json(res.stdout)
    raise ProbeError(f"cache {cfg.name}: unknown kind {cfg.kind!r}")
