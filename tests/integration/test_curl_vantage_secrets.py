"""Endpoint secrets never show on a remote vantage's command line.

curl_command's command line is run for real through ``sh -c`` (LocalRunner,
and once through the test sshd via the Collector, as a remote vantage runs
it), with its curl config on stdin, against a real loopback HTTP server that
records what arrived. While curl waits for the reply, the server reads every
process's /proc/PID/cmdline (what ``ps`` shows anyone on the host): the
password and the secret header value must be in none of them.

Values are full of quotes, backslashes, spaces, ``;``, ``$(touch ...)`` and
backticks: they must arrive byte for byte, and nothing may be executed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest

from opsdash.collect.collector import Collector
from opsdash.collect.runner import LocalRunner
from opsdash.config import parse_config
from opsdash.parsers.curl import curl_command, parse_curl
from tests.support.sshd import Sshd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

MARK = "EXECUTED"

# {m} becomes the marker's absolute path: any of these, if ever run by a shell, creates it.
NASTY = [
    'dq"uote',
    "back\\slash\\",
    "\\n is a backslash and an n, \\t too",
    "with  spaces",
    "$(touch {m})",
    "`touch {m}`",
    "it's; touch {m}",
    '"; touch {m}; echo "',
    "\\\"; touch {m}; #",
    "tab\there",
    "#not a comment = x",
    "semi;colon & pipe | $HOME ${{IFS}}",
    "ünï cödé",
]
IDS = [f"v{i}" for i in range(len(NASTY))]


def proc_cmdlines() -> list[bytes]:
    """Every process's command line, as ``ps`` shows it to any user."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                pass  # gone, or not ours to read
    return out


class Recorder:
    """A loopback HTTP server that records each request's path and headers (raw bytes),
    and the command lines of every process while the request is in flight."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        rec = self

        class H(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                # http.server decodes header bytes as latin-1: encoding back gives the bytes sent.
                rec.requests.append({
                    "method": self.command,
                    "path": self.path.encode("latin-1"),
                    "headers": {k.lower(): v.encode("latin-1") for k, v in self.headers.items()},
                    "cmdlines": proc_cmdlines(),  # curl is alive, waiting for this reply
                })
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(b"ok")

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An absolute marker path; the shell runs in tmp_path, so a relative one would land there too."""
    monkeypatch.chdir(tmp_path)
    m = tmp_path / MARK
    yield m
    assert not m.exists(), "a value was executed by the shell"
    assert not any(p.name == MARK for p in tmp_path.rglob("*"))


def assert_hidden(secret_parts: list[str], command: str, cmdlines: list[bytes]) -> None:
    for s in secret_parts:
        assert s not in command, f"{s!r} is on the command line"
        hits = [c for c in cmdlines if s.encode() in c]
        assert not hits, f"{s!r} is visible in ps: {hits}"


def basic(header: bytes) -> str:
    scheme, _, b64 = header.partition(b" ")
    assert scheme == b"Basic"
    return base64.b64decode(b64).decode("utf-8")


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_userinfo_becomes_basic_auth_and_stays_off_the_command_line(
    server: Recorder, marker: Path, value: str
) -> None:
    value = value.format(m=marker)
    token = secrets.token_hex(8)
    user, password = f"user {value}".replace(":", "_"), f"pw-{token}:{value}"  # a user name has no ':'
    query = f"q={quote(value, safe='')}&raw=$(touch${{IFS}}{marker})'\"\\`;|&<>*?[]{{}}^~"
    url = f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{server.port}/p?{query}"
    cmd = curl_command(url, timeout=10, verify_tls=True, method="GET", headers={"X-Odd": value})
    res = await LocalRunner().run(cmd.command, timeout=20, input=cmd.stdin)
    r = parse_curl(res.stdout, res.rc)
    assert (r.exit_code, r.status, r.size_download) == (0, 200, 2), res.stderr
    (req,) = server.requests
    assert basic(req["headers"]["authorization"]) == f"{user}:{password}"
    assert req["headers"]["x-odd"] == f"{value}".encode()
    assert req["path"] == f"/p?{query}".encode()
    assert_hidden([token, quote(password, safe="")], cmd.command, req["cmdlines"])


@pytest.mark.parametrize("value", NASTY, ids=IDS)
async def test_authorization_header_arrives_intact_and_stays_off_the_command_line(
    server: Recorder, marker: Path, value: str
) -> None:
    value = value.format(m=marker)
    token = secrets.token_hex(8)
    bearer = f"Bearer tok-{token} {value}"
    headers = {"Authorization": bearer, "X-Odd": value, "X-Empty-Looking": '""'}
    cmd = curl_command(f"http://127.0.0.1:{server.port}/api", timeout=10, method="POST", headers=headers)
    res = await LocalRunner().run(cmd.command, timeout=20, input=cmd.stdin)
    r = parse_curl(res.stdout, res.rc)
    assert (r.exit_code, r.status) == (0, 200), res.stderr
    (req,) = server.requests
    assert req["method"] == "POST"
    assert req["headers"]["authorization"] == bearer.encode()
    assert req["headers"]["x-odd"] == value.encode()
    assert req["headers"]["x-empty-looking"] == b'""'
    assert req["path"] == b"/api"
    assert_hidden([token], cmd.command, req["cmdlines"])


async def test_user_without_password_is_not_prompted_for(server: Recorder, marker: Path) -> None:
    """``http://u@host/`` sends ``u:`` as the local probe does; a bare ``user = "u"`` would make curl prompt."""
    cmd = curl_command(f"http://ops@127.0.0.1:{server.port}/", timeout=10, method="HEAD")
    res = await LocalRunner().run(cmd.command, timeout=20, input=cmd.stdin)
    assert parse_curl(res.stdout, res.rc).status == 200, res.stderr
    (req,) = server.requests
    assert req["method"] == "HEAD" and basic(req["headers"]["authorization"]) == "ops:"


async def test_remote_vantage_over_sshd_keeps_secrets_off_its_command_line(
    sshd: Sshd, server: Recorder, marker: Path
) -> None:
    """The Collector's own path: curl on a vantage host over a real sshd, config on the channel's stdin."""
    token = secrets.token_hex(8)
    password = f"pw-{token} \"q\" \\ $(touch {marker})"
    bearer = f"Bearer tok-{token} `touch {marker}`"
    basic_url = f"http://ops:{quote(password, safe='')}@127.0.0.1:{server.port}/basic"
    bearer_url = f"http://127.0.0.1:{server.port}/bearer"
    cfg = parse_config(  # json.dumps gives TOML basic strings here
        sshd.host_toml("vantage-1", probes=["health"])
        + "[[endpoints]]\nname = \"basic\"\n"
        + f"url = {json.dumps(basic_url)}\n"
        + 'vantage = ["vantage-1"]\n'
        + "[[endpoints]]\nname = \"bearer\"\n"
        + f"url = {json.dumps(bearer_url)}\n"
        + 'vantage = ["vantage-1"]\nmethod = "POST"\n'
        + f"headers = {{ Authorization = {json.dumps(bearer)}, X-Probe = \"opsdash\" }}\n"
    )
    c = Collector(cfg)
    await c.snapshot_once(probes={"http"})
    for ep in cfg.endpoints:
        row = c.endpoint_json(ep, "vantage-1")
        assert row["state"] == "ok", row
        assert row["ttfb_ms"] and row["ttfb_ms"] > 0
        assert token not in json.dumps(row)
    reqs = {r["path"]: r for r in server.requests}
    assert set(reqs) == {b"/basic", b"/bearer"}
    assert basic(reqs[b"/basic"]["headers"]["authorization"]) == f"ops:{password}"
    assert reqs[b"/bearer"]["method"] == "POST"
    assert reqs[b"/bearer"]["headers"]["authorization"] == bearer.encode()
    assert reqs[b"/bearer"]["headers"]["x-probe"] == b"opsdash"
    for ep, req in zip(cfg.endpoints, (reqs[b"/basic"], reqs[b"/bearer"])):
        # The vantage's sshd ran `sh -c 'LC_ALL=C curl ...'`: that command line is in /proc too.
        assert any(b"curl" in cl and b"--globoff" in cl for cl in req["cmdlines"]), "curl was not seen running"
        command = curl_command(ep.url, timeout=ep.timeout, verify_tls=ep.verify_tls, method=ep.method,
                               headers=ep.headers).command
        assert_hidden([token], command, req["cmdlines"])
