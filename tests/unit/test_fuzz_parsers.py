"""Fuzz every parser: any text in gives a result or a ProbeError (ParseError), never another exception.

Two kinds of input per parser:
- text built by hypothesis: random unicode, lines drawn from the real fixtures
  mixed with garbage and hostile tokens (huge digit runs, non-ASCII digits,
  escape sequences, JSON of the wrong shape);
- the real captures in tests/fixtures, mutated: truncated, garbage lines
  inserted, lines dropped or repeated, bytes flipped (decoded the way the
  runners decode remote output: UTF-8 with replacement characters).

A parser that meets text it does not understand must say so with a
ParseError (the collector turns it into a visible error state). Any other
exception is a crash path on the worst day, so it fails here.

``test_every_parser_is_fuzzed`` keeps this list complete: a new public
function in opsdash/parsers without a fuzz target fails the suite.
"""

from __future__ import annotations

import inspect
import json
import os
import pkgutil
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opsdash.parsers
from opsdash.kinds.backups import borg as borg_kind
from opsdash.kinds import patches as patches_mod
from opsdash.kinds import sections as sections_mod
from opsdash.collect.health import parse_health_output
from opsdash.errors import ParseError, ProbeError
from opsdash.model import CpuTimes
from opsdash.parsers import slow_queries
from opsdash.parsers import dig, journey_curl, jsonpath
from opsdash.parsers import (apt, authlog, borg, curl, health, memcached, nginx_log, openssl, pgbackrest, rdiff_backup,
                             reboot,
                             redis, restic, rpm, ss, sshd_config, varnish)
from tests.support import FIXTURES

# When a hypothesis test fails, its pytest plugin imports libcst to suggest a
# patch, and libcst trips a DeprecationWarning (mypy_extensions.TypedDict) that
# filterwarnings=error turns into an INTERNALERROR hiding the real failure.
# Importing it once here, quietly, keeps failures readable.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:
        pass


# 100 examples x 53 parsers takes about a minute on a loaded 2-core box;
# OPSDASH_FUZZ_EXAMPLES=2000 for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("OPSDASH_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,  # keep the work tree clean; a failure prints its example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _fixture_bytes() -> dict[str, bytes]:
    out = {}
    for p in sorted(FIXTURES.rglob("*")):
        if p.is_file() and p.suffix in (".txt", ".json", ".jsonl", ".log") and p.name not in ("MANIFEST.md", "NOTES.md"):
            out[str(p.relative_to(FIXTURES))] = p.read_bytes()
    return out


FIXTURE_BYTES = _fixture_bytes()
# zypper has no captured fixture (see test_parsers_patches.py); the same tables inline.
FIXTURE_BYTES["inline/zypper-list-updates.txt"] = b"""\
Loading repository data...
Reading installed packages...
S | Repository | Name    | Current Version | Available Version | Arch
--+------------+---------+-----------------+-------------------+-------
v | Update     | bash    | 4.4-150400.25.1 | 4.4-150400.27.3.2 | x86_64
"""
FIXTURE_BYTES["inline/zypper-list-patches.txt"] = b"""\
Loading repository data...
Repository | Name        | Category | Severity  | Interactive | Status | Summary
-----------+-------------+----------+-----------+-------------+--------+--------
Update     | SUSE-2024-1 | security | important | ---         | needed | Security update for openssl
Found 1 applicable patch:
"""
ALL_LINES = sorted({ln for b in FIXTURE_BYTES.values() for ln in b.decode("utf-8", "replace").splitlines()})

# Tokens that have broken parsers elsewhere: integer strings beyond Python's
# 4300-digit limit, digits int() refuses ("²"), non-ASCII digits it accepts,
# floats that overflow to inf, JSON of the wrong shape, escape sequences.
HOSTILE = [
    "9" * 5000,
    "²",
    "١٢٣",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "\x1b]52;c;aGk=\x07",
    "\x1b[2J",
    "\x00",
    "\ufffd\ufffd",
    "\u202e",
    "[red]x[/]",
    "{}",
    "[]",
    "null",
    "[5]",
    '{"a": [1, 2]}',
    "=== loadavg ===",
    "=== end rc=0 ===",
    "END",
    "STAT get_hits ²",
    "Listing...",
    "$5\r\nabc",
    "*1\r\n",
    "+OK",
    "-ERR x",
    "Inst x [1] (2 Debian-Security [amd64])",
    "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.",
    "End-Date: 0001-01-01  00:00:00",
    "End-Date: 9999-12-31  23:59:59",
    "NEEDRESTART-KSTA: ²",
    "MemTotal: ² kB",
    "MemTotal: " + "9" * 5000 + " kB",
    "cpu  " + " ".join(["9" * 5000] * 8),
    "Filesystem 1024-blocks Used Available Capacity Mounted on",
    "/dev/x ² 1 1 1% /",
    "vmlinuz-" + "9" * 5000,
]


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59", "2026-11-22T06:50:53.261508539Z", "x"]),
    )
    keys = st.sampled_from(
        ["id", "time", "name", "archives", "start", "cache", "stats", "unique_csize", "total_size", "path", "type",
         "struct_type", "node", "snapshot", "label", "backup", "timestamp", "stop", "status", "code", "message",
         "info", "size", "repository", "counters", "MAIN.cache_hit", "MAIN.cache_miss", "value", "http_code",
         "time_namelookup", "time_connect", "time_starttransfer", "time_total", "exitcode", "remote_ip",
         "size_download", "paths", "tags", "hostname", "short_id", "ucs"]
    ) | st.text(max_size=8)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
                        max_leaves=20)


def _dump(v: Any) -> str:
    return json.dumps(v, allow_nan=True)


@st.composite
def texty(draw: st.DrawFn) -> str:
    """Text shaped like probe output: fixture lines, garbage and hostile tokens, any line ending."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.text(max_size=300))
    if kind == 1:
        return _dump(draw(_json_values()))
    piece = st.one_of(
        st.sampled_from(ALL_LINES),
        st.sampled_from(HOSTILE),
        st.text(max_size=40),
        _json_values().map(_dump),
    )
    parts = draw(st.lists(piece, max_size=25))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\u2028"]))
    return sep.join(parts)


@st.composite
def mutated(draw: st.DrawFn, names: tuple[str, ...]) -> str:
    """A real capture, damaged the way a flaky transport or a hostile host would."""
    data = bytearray(FIXTURE_BYTES[draw(st.sampled_from(names))])
    for op in draw(st.lists(st.sampled_from(["truncate", "insert", "drop", "dup", "flip", "splice"]), min_size=1, max_size=4)):
        lines = bytes(data).split(b"\n")
        if op == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif op == "insert":
            junk = draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40), st.binary(max_size=20).map(
                lambda b: b.decode("latin-1"))))
            lines.insert(draw(st.integers(0, len(lines))), junk.encode("utf-8", "surrogateescape"))
            data = bytearray(b"\n".join(lines))
        elif op == "drop" and len(lines) > 1:
            del lines[draw(st.integers(0, len(lines) - 1))]
            data = bytearray(b"\n".join(lines))
        elif op == "dup" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            data = bytearray(b"\n".join(lines))
        elif op == "flip" and data:
            for _ in range(draw(st.integers(1, 8))):
                i = draw(st.integers(0, len(data) - 1))
                data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "splice":
            other = FIXTURE_BYTES[draw(st.sampled_from(sorted(FIXTURE_BYTES)))]
            data = bytearray(bytes(data) + b"\n" + other[: draw(st.integers(0, len(other)))])
    return bytes(data).decode("utf-8", errors="replace")


RC = st.one_of(st.sampled_from([0, 1, 2, 3, 12, 100, 101, 102, 124, 127]), st.integers(-(2**31), 2**31))
# What _utc_offset can hand over after validation: less than a day either way.
UTC_OFFSET = st.one_of(st.sampled_from([0, 3600, -18000, 50400, -43200]), st.integers(-86399, 86399))


@dataclass(frozen=True)
class Target:
    """``call(text, data)`` runs the parser; ``data`` draws its extra arguments."""

    call: Callable[[str, st.DataObject], Any]
    fixtures: tuple[str, ...]
    allowed: tuple[type[BaseException], ...] = (ProbeError,)


def _fx(*prefixes: str) -> tuple[str, ...]:
    names = tuple(n for n in FIXTURE_BYTES if n.split("/")[-1].startswith(prefixes))
    assert names, prefixes
    return names


def _lines(fn: Callable[[list[str]], Any]) -> Callable[[str, st.DataObject], Any]:
    return lambda text, data: fn(text.splitlines())


def _one(fn: Callable[[str], Any]) -> Callable[[str, st.DataObject], Any]:
    return lambda text, data: fn(text)


def _rc(fn: Callable[[str, int], Any]) -> Callable[[str, st.DataObject], Any]:
    return lambda text, data: fn(text, data.draw(RC, label="rc"))


def _off(fn: Callable[[str, int], Any]) -> Callable[[str, st.DataObject], Any]:
    return lambda text, data: fn(text, data.draw(UTC_OFFSET, label="utc_offset_s"))


def _health_output(text: str, data: st.DataObject) -> Any:
    prev = data.draw(st.none() | st.builds(CpuTimes, st.integers(0, 10**12), st.integers(0, 10**12)), label="prev")
    return parse_health_output(text, prev, data.draw(RC, label="df_rc"))


def _sections_then(fn: Callable[..., Any], *args: Any) -> Callable[[str, st.DataObject], Any]:
    """A ``sec`` script's output (random nonce) through split_sections, then ``fn`` on a section."""

    def call(text: str, data: st.DataObject) -> Any:
        nonce = "abc123"
        wrapped = f"\n=== {nonce} tz rc=0 ===\n{text}\n=== {nonce} end rc=0 ===\n"
        secs = sections_mod.split_sections(wrapped, nonce)
        return fn(secs, *args)

    return call


TARGETS: dict[str, Target] = {
    # apt
    "apt.is_security_origin": Target(_one(apt.is_security_origin), _fx("apt-cache-policy", "apt-list")),
    "apt.parse_apt_check": Target(_one(apt.parse_apt_check), _fx("ubuntu-apt-check")),
    "apt.parse_apt_get_simulate": Target(_one(apt.parse_apt_get_simulate), _fx("apt-get-s")),
    "apt.parse_apt_history_last_update": Target(_off(apt.parse_apt_history_last_update), _fx("apt-history", "apt-term")),
    "apt.parse_apt_list_upgradable": Target(_one(apt.parse_apt_list_upgradable), _fx("apt-list")),
    "apt.parse_updates_available": Target(_one(apt.parse_updates_available), _fx("ubuntu-updates", "ubuntu-motd")),
    # borg
    "borg.classify_error": Target(_one(borg.classify_error), _fx("borg-")),
    "borg.parse_check": Target(_rc(borg.parse_check), _fx("borg-check")),
    "borg.parse_info_json": Target(_one(borg.parse_info_json), _fx("borg-info")),
    "borg.parse_list_json": Target(_off(borg.parse_list_json), _fx("borg-list.json", "borg-info")),
    "borg.parse_list_lines": Target(_one(borg.parse_list_lines), _fx("borg-check-log-json", "borg-list")),
    # curl
    "curl.cache_status_from_headers": Target(
        lambda text, data: curl.cache_status_from_headers(
            data.draw(st.dictionaries(st.sampled_from(["x-cache-status", "cf-cache-status", "x-cache", "age", "via"]),
                                      st.sampled_from(HOSTILE) | st.just(text), max_size=4), label="headers")),
        _fx("curl-")),
    "curl.parse_curl": Target(lambda text, data: curl.parse_curl(text, data.draw(st.none() | RC, label="rc")), _fx("curl-")),
    "curl.parse_curl_json": Target(lambda text, data: curl.parse_curl_json(text, data.draw(st.none() | RC, label="rc")), _fx("curl-w-json")),
    "curl.parse_curl_write_out": Target(lambda text, data: curl.parse_curl_write_out(text, data.draw(st.none() | RC, label="rc")),
                                        _fx("curl-w-timing")),
    # health (pure parsers of the one-round-trip script)
    "health.split_sections": Target(_one(health.split_sections), _fx("host-health")),
    "health.parse_loadavg": Target(_lines(health.parse_loadavg), _fx("proc-loadavg")),
    "health.parse_uptime": Target(_lines(health.parse_uptime), _fx("proc-uptime")),
    "health.parse_cpu": Target(_lines(health.parse_cpu), _fx("proc-stat")),
    "health.parse_meminfo": Target(_lines(health.parse_meminfo), _fx("proc-meminfo")),
    "health.parse_df": Target(
        lambda text, data: health.parse_df(text.splitlines(), data.draw(st.sampled_from([1024, 512, 1]), label="block_size")),
        _fx("df-")),
    "collect.health.parse_health_output": Target(_health_output, _fx("host-health", "proc-", "df-")),
    # memcached
    "memcached.memcached_stats_fields": Target(_one(memcached.memcached_stats_fields), _fx("memcached", "memcstat")),
    "memcached.parse_memcached_stats": Target(_one(memcached.parse_memcached_stats), _fx("memcached", "memcstat")),
    # nginx log
    "nginx_log.cache_status_of_line": Target(
        lambda text, data: [nginx_log.cache_status_of_line(ln, i) for i, ln in enumerate(text.splitlines(), 1)],
        _fx("nginx-access")),
    "nginx_log.parse_cache_status_lines": Target(_lines(nginx_log.parse_cache_status_lines), _fx("nginx-access")),
    # pgbackrest
    "pgbackrest.parse_info_json": Target(
        lambda text, data: pgbackrest.parse_info_json(text, data.draw(st.none() | st.sampled_from(["main", "demo", ""]), label="stanza")),
        _fx("pgbackrest-info")),
    "pgbackrest.parse_command_log": Target(
        lambda text, data: pgbackrest.parse_command_log(text, data.draw(st.sampled_from(["check", "verify", "backup"]), label="command"),
                                                        data.draw(RC, label="rc")),
        _fx("pgbackrest-")),
    # TLS certificates (openssl s_client / x509 from a remote vantage)
    "openssl.parse_verify": Target(_one(openssl.parse_verify), _fx("s_client_")),
    "openssl.parse_x509": Target(_one(openssl.parse_x509), _fx("x509_")),
    "openssl.parse_not_after": Target(
        lambda text, data: [openssl.parse_not_after(ln) for ln in text.splitlines()[:50]], _fx("x509_")),
    # rdiff-backup
    "rdiff_backup.parse_increments": Target(_one(rdiff_backup.parse_increments), _fx("rdiff-backup-list")),
    "rdiff_backup.parse_verify": Target(_rc(rdiff_backup.parse_verify), _fx("rdiff-backup-")),
    "rdiff_backup.classify_error": Target(_one(rdiff_backup.classify_error), _fx("rdiff-backup-")),
    # host security
    "ss.parse_ss": Target(_one(ss.parse_ss), _fx("ss_tulpnH")),
    "sshd_config.parse_sshd_t": Target(_one(sshd_config.parse_sshd_t), _fx("sshd_T")),
    "sshd_config.weak_settings": Target(
        lambda text, data: sshd_config.weak_settings(sshd_config.parse_sshd_t(text)), _fx("sshd_T")),
    "authlog.failed_logins": Target(
        lambda text, data: authlog.failed_logins(
            text, now=data.draw(st.floats(0, 4e9), label="now"), utc_offset_s=data.draw(UTC_OFFSET, label="utc_offset_s")),
        _fx("sshd_T", "ss_tulpnH")),
    # reboot
    "reboot.installed_kernels": Target(_one(reboot.installed_kernels), _fx("needrestart", "reboot-")),
    "reboot.kernel_outdated": Target(
        lambda text, data: reboot.kernel_outdated(text, reboot.installed_kernels(
            data.draw(st.lists(st.sampled_from(HOSTILE) | st.text(max_size=12), max_size=4).map(
                lambda xs: "\n".join("vmlinuz-" + x for x in xs)), label="boot"))),
        _fx("needrestart")),
    "reboot.parse_needrestart_batch": Target(_one(reboot.parse_needrestart_batch), _fx("needrestart-b")),
    "reboot.parse_needs_restarting": Target(_rc(reboot.parse_needs_restarting), _fx("needrestart", "reboot-")),
    "reboot.parse_reboot_required_pkgs": Target(_one(reboot.parse_reboot_required_pkgs), _fx("reboot-required")),
    "reboot.version_key": Target(_one(reboot.version_key), _fx("needrestart-b")),
    # redis
    "redis.redis_info_fields": Target(_one(redis.redis_info_fields), _fx("redis-")),
    "redis.parse_redis_info": Target(_one(redis.parse_redis_info), _fx("redis-")),
    # restic
    "restic.classify_error": Target(_one(restic.classify_error), _fx("restic-")),
    "restic.parse_check": Target(_rc(restic.parse_check), _fx("restic-check")),
    "restic.parse_ls_node": Target(
        lambda text, data: restic.parse_ls_node(text, data.draw(st.sampled_from(["/src/data.bin", "/", ""]) | st.text(max_size=10), label="path")),
        _fx("restic-snapshots.json", "restic-backup.jsonl")),
    "restic.parse_restore_verify": Target(_rc(restic.parse_restore_verify), _fx("restic-restore")),
    "restic.parse_snapshots_json": Target(_one(restic.parse_snapshots_json), _fx("restic-snapshots")),
    "restic.parse_stats_json": Target(_one(restic.parse_stats_json), _fx("restic-stats")),
    # parse_time is a helper documented to raise ValueError; its callers catch that.
    "restic.parse_time": Target(_one(restic.parse_time), _fx("restic-snapshots.json"), (ProbeError, ValueError)),
    # rpm family
    "rpm.parse_check_update": Target(_rc(rpm.parse_check_update), _fx("dnf-check", "yum-security-check")),
    "rpm.parse_updateinfo_list": Target(_one(rpm.parse_updateinfo_list), _fx("dnf-updateinfo", "yum-updateinfo-list")),
    "rpm.parse_updateinfo_summary": Target(_one(rpm.parse_updateinfo_summary), _fx("yum-updateinfo-summary")),
    "rpm.parse_zypper_list_patches": Target(_one(rpm.parse_zypper_list_patches), _fx("zypper")),
    "rpm.parse_zypper_list_updates": Target(_one(rpm.parse_zypper_list_updates), _fx("zypper")),
    # split_nevra is a helper documented to raise ValueError; parse_updateinfo_list catches it.
    "rpm.split_nevra": Target(_one(rpm.split_nevra), _fx("dnf-updateinfo"), (ProbeError, ValueError)),
    # varnish
    "varnish.parse_varnishstat": Target(_one(varnish.parse_varnishstat), _fx("varnishstat")),
    "varnish.parse_varnishstat_json": Target(_one(varnish.parse_varnishstat_json), _fx("varnishstat-j")),
    "varnish.parse_varnishstat_text": Target(_one(varnish.parse_varnishstat_text), _fx("varnishstat-1")),
    # slow queries (kinds/databases.py; its own fuzz: tests/unit/test_slow_query_parsers.py)
    "slow_queries.first_error": Target(_one(slow_queries.first_error), _fx("pg-stat-statements-denied", "mariadb-")),
    "slow_queries.normalise": Target(_one(slow_queries.normalise), _fx("pg-stat-statements.csv", "mariadb-statement")),
    "slow_queries.parse_my_digests": Target(_one(slow_queries.parse_my_digests), _fx("mariadb-statement-digests.tsv")),
    "slow_queries.parse_my_server": Target(_one(slow_queries.parse_my_server), _fx("mariadb-server-status")),
    "slow_queries.parse_pg_info": Target(_one(slow_queries.parse_pg_info), _fx("pg-stat-statements-info")),
    "slow_queries.parse_pg_server": Target(_one(slow_queries.parse_pg_server), _fx("pg-stat-statements-server")),
    "slow_queries.parse_pg_statements": Target(_one(slow_queries.parse_pg_statements), _fx("pg-stat-statements.csv")),
    # dig / getent (kinds/dns.py; its own fuzz: tests/unit/test_dns_dig_parser.py)
    "dig.parse_dig": Target(_one(dig.parse_dig), _fx("dig-")),
    "dig.parse_getent": Target(_one(dig.parse_getent), _fx("getent-ahosts")),
    # journeys (kinds/journeys.py): a remote step's header dump, and the JSON paths of extract/expect_json
    "journey_curl.parse_headers": Target(_one(journey_curl.parse_headers), _fx("curl-w-")),
    "jsonpath.compile": Target(_one(jsonpath.compile), _fx("curl-w-json")),
    "jsonpath.find": Target(_one(lambda t: jsonpath.find({"a": [1, {"b c": None}], "id": "x"}, jsonpath.compile(t))),
                            _fx("curl-w-json")),
    "jsonpath.show": Target(_one(lambda t: jsonpath.show(jsonpath.compile(t))), _fx("curl-w-json")),
    # remote `date +%z` read by the patches and backups probes, then used as an offset
    "kinds.patches._utc_offset": Target(
        _sections_then(lambda s: apt.parse_apt_history_last_update(
            "Start-Date: x\nUpgrade: a\nEnd-Date: 2026-11-22  06:00:00\n", patches_mod._utc_offset(s))),
        _fx("apt-history")),
    "kinds.backups.borg.utc_offset": Target(
        _sections_then(lambda s: borg.parse_list_json(
            '{"archives": [{"name": "a", "id": "b", "time": "2026-11-22T06:00:00"}]}',
            borg_kind.utc_offset(s["tz"]))),
        _fx("borg-list.json")),
    "kinds.sections.split_sections": Target(
        lambda text, data: sections_mod.split_sections(text, data.draw(st.sampled_from(["abc123", ""]) | st.text(max_size=6), label="nonce")),
        _fx("host-health")),
}

# Builders and other non-parsers among the public names of opsdash.parsers.
NOT_PARSERS = {"curl.curl_command", "journey_curl.config_line", "journey_curl.step_config"}


def _run(name: str, text: str, data: st.DataObject) -> None:
    t = TARGETS[name]
    try:
        t.call(text, data)
    except t.allowed:
        pass


@pytest.mark.parametrize("name", sorted(TARGETS))
@FUZZ
@given(data=st.data())
def test_fuzz(name: str, data: st.DataObject) -> None:
    """Half generated text, half damaged real captures (one test per parser keeps the suite quick)."""
    _run(name, data.draw(st.one_of(texty(), mutated(TARGETS[name].fixtures)), label="text"), data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_unmutated_fixtures_never_crash(name: str) -> None:
    """Every relevant real capture as is (and every other capture, as wrong input)."""

    class _Fixed:
        """A stand-in for st.DataObject that always draws the first example."""

        def draw(self, strategy: st.SearchStrategy[Any], label: Any = None) -> Any:
            return _first(strategy, label)

    for fx in FIXTURE_BYTES:
        _run(name, FIXTURE_BYTES[fx].decode("utf-8", "replace"), _Fixed())  # type: ignore[arg-type]


# Extra arguments for the deterministic tests below (no hypothesis engine there).
DEFAULTS: dict[str, Any] = {
    "rc": 0, "utc_offset_s": 0, "headers": {"x-cache": "HIT"}, "prev": None, "df_rc": 0, "block_size": 1024,
    "stanza": None, "command": "check", "boot": "vmlinuz-6.1.0-40-amd64", "path": "/src/data.bin", "nonce": "abc123",
    "now": 1_790_000_000.0,
}


def _first(strategy: st.SearchStrategy[Any], label: Any = None) -> Any:
    return DEFAULTS[label]


# --- hostile cases found by fuzzing, kept as plain regression tests -------------------

REGRESSIONS: list[tuple[str, str]] = [
    # int()/float() limits: 4300-digit strings, inf, non-decimal digits
    ("restic.parse_stats_json", '{"total_size": ' + "1" * 5000 + "}"),
    ("restic.parse_snapshots_json", '[{"id": "a", "time": "2026-11-22T06:50:53.' + "1" * 5000 + 'Z"}]'),
    ("varnish.parse_varnishstat_text", "MAIN.cache_hit " + "1" * 5000 + "\nMAIN.cache_miss 1\n"),
    ("varnish.parse_varnishstat_json", '{"counters": {"MAIN.cache_hit": {"value": ' + "1" * 5000 + "}}}"),
    ("health.parse_meminfo", "MemTotal: ² kB"),
    ("health.parse_meminfo", "MemTotal: " + "9" * 5000 + " kB"),
    ("health.parse_cpu", "cpu  " + " ".join(["9" * 5000] * 8)),
    ("health.parse_df", "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x " + "9" * 5000 + " 1 1 1% /"),
    ("apt.parse_apt_get_simulate", "9" * 5000 + " upgraded, 0 newly installed, 0 to remove and 0 not upgraded."),
    ("apt.parse_apt_check", "9" * 5000 + ";1"),
    ("apt.parse_updates_available", "9" * 5000 + " updates can be applied immediately."),
    ("rpm.parse_updateinfo_summary", "Updates Information Summary: available\n" + "9" * 5000 + " Security notice(s)"),
    ("reboot.version_key", "6." + "9" * 5000),
    ("reboot.parse_needrestart_batch", "NEEDRESTART-VER: 3\nNEEDRESTART-KSTA: " + "9" * 5000),
    ("redis.parse_redis_info", "$" + "9" * 5000 + "\r\nx"),
    ("memcached.parse_memcached_stats", "STAT get_hits " + "9" * 5000 + "\r\nEND\r\n"),
    ("curl.parse_curl_json",
     '{"time_namelookup": 0, "time_connect": 0, "time_starttransfer": 0, "time_total": 0, "http_code": 1e999}'),
    ("curl.parse_curl_json",
     '{"time_namelookup": 0, "time_connect": 0, "time_starttransfer": 0, "time_total": 0, "http_code": 200,'
     ' "exitcode": -1e999}'),
    ("curl.parse_curl_write_out",
     "time_namelookup=0\ntime_connect=0\ntime_starttransfer=" + "1" * 5000 + "\ntime_total=0\nhttp_code=200"),
    ("curl.parse_curl_write_out", "time_namelookup=0\ntime_connect=0\ntime_starttransfer=0\ntime_total=0\nhttp_code=" + "9" * 5000),
    # JSON of the wrong shape
    ("pgbackrest.parse_info_json", "[5]"),
    ("pgbackrest.parse_info_json", '[{"name": "x", "status": {"code": 1e999}}]'),
    ("pgbackrest.parse_info_json", '[{"name": "x", "status": {"code": 0}, "backup": [{"label": "a", "type": "full",'
                                   ' "timestamp": {"start": 1, "stop": 2}, "info": [1]}]}]'),
    ("pgbackrest.parse_info_json", '[{"name": "x", "status": {"code": 0}, "backup": [{"label": "a", "type": "full",'
                                   ' "timestamp": {"start": 1, "stop": 2}, "info": {"repository": 5}}]}]'),
    ("pgbackrest.parse_info_json", '[{"name": "x", "status": {"code": 0}, "backup": 5}]'),
    ("pgbackrest.parse_info_json", '[{"name": "x", "status": []}]'),
    ("borg.parse_list_json", '{"archives": [{"name": "a", "id": "b", "time": "0001-01-01T00:00:00"}]}'),
    ("borg.parse_list_json", '{"archives": [{"name": "a", "id": "b", "time": "9999-12-31T23:59:59"}]}'),
    ("borg.parse_list_json", '{"archives": [5]}'),
    ("borg.parse_info_json", '{"cache": {"stats": {"unique_csize": ' + "1" * 5000 + "}}}"),
    ("borg.parse_list_lines", '{"path": ' + "1" * 5000 + "}"),
    ("restic.parse_snapshots_json", '[{"id": "a", "time": "0001-01-01T00:00:00-23:59"}]'),
    ("restic.parse_snapshots_json", '[{"id": "a", "time": "9999-12-31T23:59:59+00:00", "paths": 5}]'),
    ("restic.parse_ls_node", '{"struct_type": "node", "path": ' + "1" * 5000 + "}"),
    ("restic.parse_snapshots_json", "[" * 100000),
    ("apt.parse_apt_history_last_update", "Start-Date: x\nUpgrade: a\nEnd-Date: 0001-01-01  00:00:00"),
    ("apt.parse_apt_history_last_update", "Start-Date: x\nUpgrade: a\nEnd-Date: 9999-12-31  23:59:59"),
    ("nginx_log.parse_cache_status_lines", '{"cache": ' + "1" * 5000 + "}"),
    ("nginx_log.parse_cache_status_lines", "[" * 100000),
    ("kinds.patches._utc_offset", "+9959"),
    ("kinds.backups.borg.utc_offset", "-9999"),
    ("kinds.backups.borg.utc_offset", "+2400"),
]


@pytest.mark.parametrize("name,text", REGRESSIONS, ids=[f"{i}-{n}" for i, (n, _) in enumerate(REGRESSIONS)])
def test_hostile_regressions(name: str, text: str) -> None:
    class _Worst:
        """Extra arguments at their edges: the offsets that hurt most, rc 0."""

        def draw(self, strategy: st.SearchStrategy[Any], label: Any = None) -> Any:
            if label == "utc_offset_s":
                return 86399 if "0001" in text else -86399
            return _first(strategy, label)

    _run(name, text, _Worst())  # type: ignore[arg-type]


def test_every_parser_is_fuzzed() -> None:
    """Every public function of every module in opsdash/parsers has a fuzz target here."""
    public: set[str] = set()
    for mod in pkgutil.iter_modules(opsdash.parsers.__path__):
        module = __import__(f"opsdash.parsers.{mod.name}", fromlist=["_"])
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not fname.startswith("_"):
                public.add(f"{mod.name}.{fname}")
    missing = public - set(TARGETS) - NOT_PARSERS
    assert not missing, f"parsers without a fuzz target in tests/unit/test_fuzz_parsers.py: {sorted(missing)}"


def test_parse_error_names_the_line() -> None:
    """Sanity for the contract the fuzz relies on: a ParseError is a ProbeError with state 'error'."""
    with pytest.raises(ParseError) as ei:
        apt.parse_apt_get_simulate("Inst\n\x1b]52;c;aGk=\x07")
    assert isinstance(ei.value, ProbeError) and ei.value.state == "error"
    assert ei.value.lineno == 1
