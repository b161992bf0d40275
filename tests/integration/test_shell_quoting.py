"""Nothing from the config or from remote output reaches a shell unquoted.

Every command builder that puts a config value (backup repository, password
file, restore sample, env values, cache address/path/password file) or remote
text (a snapshot id, an archive name) into a shell command is run for real
through LocalRunner's ``sh -c`` in a temp dir, with values full of spaces,
quotes, ``;``, ``$(touch PWNED)``, backticks, newlines and leading dashes. Two
things must hold:

1. no injection: the marker file PWNED never appears;
2. the value arrives intact: the tools are fakes early in PATH that log their
   argv and environment, so each value must arrive as one argv element (or
   one environment value), byte for byte.

curl's URL, credentials and headers are secrets kept off the command line:
they go to curl as a config on stdin, so the fake checks that its argv holds
none of them, and the real curl against a loopback server that they arrive
byte for byte.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from opsdash.kinds import cache_counters as caches_mod
from opsdash.kinds.backups._host import _env, probe_backup, run_check
from opsdash.collect.runner import LocalRunner, sh_join, with_env
from opsdash.config import BackupConfig, CacheConfig, CheckConfig, RestoreTestConfig
from opsdash.errors import ProbeError
from opsdash.parsers.curl import CURL_WRITE_OUT, curl_command

MARK = "PWNED"
# Each tries to create ./PWNED (the tests run in a temp dir) if it is ever unquoted.
NASTY = [
    "plain",
    "with space",
    "it's",
    'double"quote',
    "semi;touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "new\ntouch PWNED",
    "-rf",
    "--help",
    "a|touch PWNED",
    "a&&touch PWNED",
    ">PWNED",
    "$HOME ${IFS} $0 $1",
    "glob*?[x]",
    "back\\slash",
    "tab\there",
    "~",
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "ünï cödé",
]
IDS = [f"v{i}" for i in range(len(NASTY))]

FAKE_TOOL = r'''#!{python}
"""A stand-in for a backup/cache tool: logs argv and environment, answers from FAKE_RESPONSES."""
import json, os, sys
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
env_keys = ("RESTIC_REPOSITORY", "RESTIC_PASSWORD_FILE", "BORG_REPO", "BORG_PASSCOMMAND",
            "PGBACKREST_REPO1_PATH", "REDISCLI_AUTH", "OPSDASH_ODD")
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({{"tool": tool, "argv": args, "cwd": os.getcwd(),
                        "env": {{k: os.environ[k] for k in env_keys if k in os.environ}}}}) + "\n")
resp = json.loads(os.environ.get("FAKE_RESPONSES", "{{}}"))
words = [a for a in args if not a.startswith("-")]
sub = words[0] if words else ""
if tool == "restic" and sub == "restore":
    target = args[args.index("--target") + 1]
    include = args[args.index("--include") + 1]
    path = os.path.join(target, include.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write("hello")
    print("restoring ...\nfinished verifying 1 files")
elif tool == "borg" and sub == "extract" and "--stdout" not in args:
    item = words[2]
    os.makedirs(os.path.dirname(item) or ".", exist_ok=True)
    open(item, "w").write("hello")
elif tool == "restic" and sub == "dump" or tool == "borg" and sub == "extract":
    sys.stdout.write("hello")
else:
    key = tool + " " + sub + (" --json-lines" if "--json-lines" in args else "")
    sys.stdout.write(resp.get(key, resp.get(tool, "")))
sys.exit(int(os.environ.get("FAKE_RC_" + tool.replace("-", "_"), "0")))
'''


class Fakes:
    def __init__(self, root: Path):
        self.root = root
        self.bin = root / "fakebin"
        self.bin.mkdir()
        self.log = root / "fake.log"
        self.log.write_text("")
        self.responses: dict[str, str] = {}

    def install(self, *tools: str) -> None:
        for t in tools:
            p = self.bin / t
            p.write_text(FAKE_TOOL.format(python=sys.executable))
            p.chmod(0o755)

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        rows = [json.loads(ln) for ln in self.log.read_text().splitlines() if ln.strip()]
        return [r for r in rows if tool is None or r["tool"] == tool]


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # a relative "touch PWNED" would land here
    f = Fakes(tmp_path)
    monkeypatch.setenv("PATH", f"{f.bin}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(f.log))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "probe-tmp"))
    (tmp_path / "probe-tmp").mkdir()
    yield f
    assert_no_marker(tmp_path)


def assert_no_marker(root: Path) -> None:
    found = [p for p in root.rglob("*") if p.name == MARK]
    found += [p for p in Path.cwd().rglob("*") if p.name == MARK]
    assert not found, f"shell injection: {found}"


def _set_responses(monkeypatch: pytest.MonkeyPatch, responses: dict[str, str]) -> None:
    monkeypatch.setenv("FAKE_RESPONSES", json.dumps(responses))


async def _sh(command: str, **kw: Any) -> str:
    res = await LocalRunner().run(command, timeout=30, **kw)
    assert res.rc == 0, (command, res.stderr)
    return res.stdout


# --- the generic helpers -----------------------------------------------------------


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_sh_join_and_with_env_deliver_values_intact(fakes: Fakes, value: str) -> None:
    out = await _sh("printf '%s\\0' " + sh_join([value, "-" + value, value + "\n"]))
    assert out.split("\0")[:3] == [value, "-" + value, value + "\n"]
    inner = "sh -c " + shlex.quote("printf '%s\\0' \"$OPSDASH_ODD\"")
    out = await _sh(with_env(inner, {"OPSDASH_ODD": value, "bad key;touch PWNED": "x"}))
    assert out.split("\0")[0] == value


# --- backups: env, repository, password file, sample, remote snapshot ids ------------


def _restic_cfg(root: Path, value: str, sample: str = "src/data.bin", **kw: Any) -> BackupConfig:
    pw = root / f"pw {value}".replace("/", "_")
    pw.write_text("s3cret\n")
    return BackupConfig(
        name="job",
        kind=kw.pop("kind", "restic"),
        repository=str(root / f"repo {value}".replace("/", "_")),
        password_file=str(pw),
        restore_test=RestoreTestConfig(sample=sample, timeout=60),
        check=CheckConfig(subset=kw.pop("subset", "1%")),
        env={"OPSDASH_ODD": value},
        **kw,
    )


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_backup_env_block_quotes_every_value(fakes: Fakes, value: str) -> None:
    for kind in ("restic", "borg", "pgbackrest"):
        cfg = _restic_cfg(fakes.root, value, kind=kind)
        script = _env(cfg) + (
            "printf '%s\\0' \"$OPSDASH_ODD\" \"${RESTIC_REPOSITORY-}\" \"${RESTIC_PASSWORD_FILE-}\" "
            "\"${BORG_REPO-}\" \"${BORG_PASSCOMMAND-}\" \"${PGBACKREST_REPO1_PATH-}\"\n"
        )
        got = (await _sh(script)).split("\0")
        assert got[0] == value
        if kind == "restic":
            assert got[1:3] == [cfg.repository, cfg.password_file]
        elif kind == "borg":
            assert got[3] == cfg.repository
            # borg shlex-splits BORG_PASSCOMMAND and runs it without a shell.
            argv = shlex.split(got[4])
            assert argv == ["cat", cfg.password_file]
            assert subprocess.run(argv, capture_output=True, check=True).stdout == b"s3cret\n"
        else:
            assert got[5] == cfg.repository


async def test_backup_paths_under_home_keep_tilde_meaning(fakes: Fakes) -> None:
    home = Path(os.environ["HOME"])
    name = "pw $(touch PWNED) 'q'"
    (home / name).write_text("s3cret\n")
    cfg = BackupConfig(name="job", kind="borg", repository="~/repo $(touch PWNED)", password_file="~/" + name)
    got = (await _sh(_env(cfg) + "printf '%s\\0' \"$BORG_REPO\" \"$BORG_PASSCOMMAND\"\n")).split("\0")
    assert got[0] == f"{home}/repo $(touch PWNED)"
    argv = shlex.split(got[1])
    res = subprocess.run(argv, capture_output=True, env={**os.environ}, check=True)  # borg runs it without a shell
    assert res.stdout == b"s3cret\n"


def _snapshots(snap_id: str, paths: str = "/src") -> str:
    return json.dumps([{"id": snap_id, "short_id": snap_id[:8], "time": "2026-11-22T06:50:53.261508539Z",
                        "paths": [paths], "hostname": "h", "tags": None}])


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_restic_probe_and_restore_test_with_hostile_names(fakes: Fakes, monkeypatch: pytest.MonkeyPatch,
                                                               value: str) -> None:
    """Config values and a snapshot id that came from the repository (remote text)."""
    sample = f"src/{value}/file {value}".replace("..", "_")
    snap_id = f"id-{value}"
    fakes.install("restic")
    _set_responses(monkeypatch, {
        "restic snapshots": _snapshots(snap_id),
        "restic ls": json.dumps({"struct_type": "node", "path": "/" + sample.lstrip("/"), "type": "file", "size": 5}),
    })
    cfg = _restic_cfg(fakes.root, value, sample=sample)
    st = await probe_backup(LocalRunner(), cfg, now=time.time(), run_restore=True, timeout=60)
    assert st.error is None, st.error
    assert st.restore_test is not None and st.restore_test.ok, st.restore_test
    calls = fakes.calls("restic")
    for c in calls:
        assert c["env"]["RESTIC_REPOSITORY"] == cfg.repository
        assert c["env"]["RESTIC_PASSWORD_FILE"] == cfg.password_file
        assert c["env"]["OPSDASH_ODD"] == value
    by_sub = {next(a for a in c["argv"] if not a.startswith("-")): c["argv"] for c in calls}
    want = "/" + sample.lstrip("/")
    assert by_sub["ls"][-2:] == [snap_id, want]
    r = by_sub["restore"]
    assert r[r.index("restore") + 1] == snap_id and r[r.index("--include") + 1] == want
    assert by_sub["dump"][-2:] == [snap_id, want]


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_restic_check_subset_is_one_argument(fakes: Fakes, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    fakes.install("restic")
    _set_responses(monkeypatch, {"restic check": "no errors were found\n"})
    cfg = _restic_cfg(fakes.root, value, subset=value)
    await run_check(LocalRunner(), cfg, timeout=60)
    (call,) = fakes.calls("restic")
    assert f"--read-data-subset={value}" in call["argv"]


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_borg_probe_and_restore_test_with_hostile_archive_name(fakes: Fakes, monkeypatch: pytest.MonkeyPatch,
                                                                    value: str) -> None:
    sample = f"src/{value}/file".replace("..", "_").lstrip("/")
    archive = f"arch-{value}"
    fakes.install("borg")
    _set_responses(monkeypatch, {
        "borg list": json.dumps({"archives": [{"name": archive, "id": "abc", "time": "2026-11-22T06:50:53.000000"}]}),
        "borg info": json.dumps({"cache": {"stats": {"unique_csize": 1234}}}),
        "borg list --json-lines": json.dumps({"path": sample, "type": "-", "size": 5}),
    })
    cfg = _restic_cfg(fakes.root, value, sample=sample, kind="borg")
    st = await probe_backup(LocalRunner(), cfg, now=time.time(), run_restore=True, timeout=60)
    assert st.error is None, st.error
    assert st.restore_test is not None and st.restore_test.ok, st.restore_test
    calls = fakes.calls("borg")
    for c in calls:
        assert c["env"]["BORG_REPO"] == cfg.repository
        assert shlex.split(c["env"]["BORG_PASSCOMMAND"]) == ["cat", cfg.password_file]
    lists = [c["argv"] for c in calls if "--json-lines" in c["argv"]]
    assert lists and lists[0][-2:] == ["::" + archive, sample]
    extracts = [c["argv"] for c in calls if "extract" in c["argv"]]
    assert len(extracts) == 2 and all(a[-2:] == ["::" + archive, sample] for a in extracts)


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_pgbackrest_stanza_and_repo_are_quoted(fakes: Fakes, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    fakes.install("pgbackrest")
    _set_responses(monkeypatch, {"pgbackrest info": json.dumps([{"name": value, "status": {"code": 0, "message": "ok"},
                                                                 "backup": []}])})
    cfg = BackupConfig(name="pg", kind="pgbackrest", stanza=value, repository=f"/var/lib/{value}")
    st = await probe_backup(LocalRunner(), cfg, now=time.time(), run_restore=False, timeout=60)
    assert st.error is None, st.error
    (call,) = fakes.calls("pgbackrest")
    assert call["argv"][0] == f"--stanza={value}"
    assert call["env"]["PGBACKREST_REPO1_PATH"] == cfg.repository


async def test_restore_sample_outside_the_snapshot_is_refused(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    fakes.install("restic")
    _set_responses(monkeypatch, {"restic snapshots": _snapshots("abc")})
    cfg = _restic_cfg(fakes.root, "x", sample="../../etc/passwd")
    st = await probe_backup(LocalRunner(), cfg, now=time.time(), run_restore=True, timeout=60)
    assert st.restore_test is not None and not st.restore_test.ok
    assert "inside the snapshot" in st.restore_test.detail
    assert [c["argv"][1] for c in fakes.calls("restic")] == ["snapshots"]  # no restore was attempted


# --- caches ------------------------------------------------------------------------


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_redis_password_file_and_socket_path(fakes: Fakes, value: str) -> None:
    fakes.install("redis-cli")
    pw = fakes.root / f"redis pw {value}".replace("/", "_")
    pw.write_text(f"pa ss'{value}\n")
    sock = str(fakes.root / f"sock {value}".replace("/", "_"))
    cfg = CacheConfig(name="r", kind="redis", address=sock, password_file=str(pw))
    res = await LocalRunner().run(caches_mod.redis_command(cfg, 10), timeout=30)
    assert res.rc == 0, res.stderr
    calls = fakes.calls("redis-cli")
    assert [c["argv"] for c in calls] == [["-s", sock, "INFO", "server"], ["-s", sock, "INFO", "stats"]]
    assert all(c["env"]["REDISCLI_AUTH"] == f"pa ss'{value}" for c in calls)


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_redis_and_memcached_host_addresses(fakes: Fakes, value: str) -> None:
    fakes.install("redis-cli", "bash")  # the fake bash stands in for the /dev/tcp fallback
    host = f"h{value}"
    for kind, build, port in (("redis", caches_mod.redis_command, "6379"), ("memcached", caches_mod.memcached_command, "11211")):
        fakes.log.write_text("")
        cfg = CacheConfig(name="c", kind=kind, address=f"{host}:{port}")
        try:
            cmd = build(cfg, 10)
        except ProbeError:
            continue  # refused before any shell: fine
        await LocalRunner().run(cmd, timeout=30)
        if kind == "redis":
            argvs = [c["argv"] for c in fakes.calls("redis-cli")]
            assert argvs[0] == ["-h", host, "-p", port, "INFO", "server"]
        else:
            (call,) = fakes.calls("bash")
            assert call["argv"][0] == "-c" and call["argv"][2:] == [host, port]


@pytest.mark.parametrize("address", ["-oProxyCommand=touch PWNED", "--help", "-h:6379", "[-x]:1"])
def test_cache_address_with_a_leading_dash_is_refused(address: str) -> None:
    with pytest.raises(ProbeError):
        caches_mod.redis_command(CacheConfig(name="c", kind="redis", address=address), 10)


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_varnish_instance_name(fakes: Fakes, value: str) -> None:
    fakes.install("varnishstat")
    cfg = CacheConfig(name="v", kind="varnish", path=value)
    res = await LocalRunner().run(caches_mod.varnish_command(cfg, 10), timeout=30)
    assert res.rc == 0, res.stderr
    (call,) = fakes.calls("varnishstat")
    assert call["argv"][:3] == ["-j", "-n", value]


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_nginx_log_path_is_read_intact(fakes: Fakes, value: str) -> None:
    """The real tail script on a real file whose name is hostile (stat, tail and head are not faked)."""
    name = f"{value}.log".replace("/", "_")
    log = fakes.root / "logs" / name
    log.parent.mkdir(exist_ok=True)
    log.write_text("GET / ucs=HIT\nGET / ucs=MISS\n")
    cfg = CacheConfig(name="n", kind="nginx-log", path=str(log))
    counters = await caches_mod.read_counters(LocalRunner(), cfg, timeout=30, state={})
    assert (counters.hits, counters.misses) == (1, 1)
    rel = CacheConfig(name="n", kind="nginx-log", path=name)
    os.chdir(log.parent)
    counters = await caches_mod.read_counters(LocalRunner(), rel, timeout=30, state={})
    assert (counters.hits, counters.misses) == (1, 1)


# --- curl from a remote vantage -------------------------------------------------------


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_curl_command_line_holds_no_url_or_header(fakes: Fakes, value: str) -> None:
    """What ``ps`` on the vantage shows: fixed options only; the URL and headers go to ``-K -`` on stdin."""
    fakes.install("curl")
    url = f"https://example.test/p?q={value}"
    headers = {"X-Odd": value.replace("\n", " "), "Authorization": "Bearer $(touch PWNED)"}
    cmd = curl_command(url, timeout=5, headers=headers, method="POST")
    res = await LocalRunner().run(cmd.command, timeout=30, input=cmd.stdin)
    assert res.rc == 0, res.stderr
    (call,) = fakes.calls("curl")
    assert call["argv"] == ["-sS", "-o", "/dev/null", "--max-time", "5", "--proto", "=http,https",
                            "-X", "POST", "--globoff", "-w", CURL_WRITE_OUT, "-K", "-"]


@pytest.fixture
def recorder() -> Any:
    """A loopback HTTP server that keeps each request's target and headers as the bytes sent."""
    seen: list[tuple[bytes, dict[str, bytes]]] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            # http.server decodes the head as latin-1: encoding back gives the bytes sent.
            seen.append((self.path.encode("latin-1"), {k.lower(): v.encode("latin-1") for k, v in self.headers.items()}))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_curl_url_credentials_and_headers_arrive_intact(fakes: Fakes, recorder: Any, value: str) -> None:
    """The real curl reads the stdin config: every value reaches the server byte for byte."""
    port, seen = recorder
    one_line = value.replace("\n", " ")
    target = f"/p?q={quote(value, safe='')}&raw=$(touch${{IFS}}PWNED)`x`"  # curl refuses raw spaces and newlines
    userinfo = f"{quote(value, safe='')}:{quote(value + ':pw', safe='')}"
    cmd = curl_command(f"http://{userinfo}@127.0.0.1:{port}{target}", timeout=10, method="POST",
                       headers={"X-Odd": one_line, "X-Sub": "$(touch PWNED)"})
    res = await LocalRunner().run(cmd.command, timeout=30, input=cmd.stdin)
    assert res.rc == 0 and "http_code=200" in res.stdout, res.stderr
    ((got, headers),) = seen
    assert got == target.encode()
    assert headers["x-odd"] == one_line.encode() and headers["x-sub"] == b"$(touch PWNED)"
    scheme, _, b64 = headers["authorization"].partition(b" ")
    assert scheme == b"Basic" and base64.b64decode(b64) == f"{value}:{value}:pw".encode()


@pytest.mark.parametrize("bad", [{"X-A": "a\r\nInjected: 1"}, {"X-A": "a\nb"}, {"Bad Name": "x"}, {"X;touch PWNED": "x"}])
def test_curl_header_injection_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        curl_command("https://example.test/", timeout=5, headers=bad)


def test_curl_url_with_leading_dash_stays_a_url() -> None:
    cmd = curl_command("-K/etc/passwd", timeout=5)
    argv = shlex.split(cmd.command.removeprefix("LC_ALL=C "))
    assert argv[-2:] == ["-K", "-"] and "/etc/passwd" not in argv
    assert cmd.stdin == 'url = "-K/etc/passwd"\n'
