"""Credential-like URL query values and echoed request headers never reach the store or any output.

A real loopback server answers every request with a broken status line that
echoes the request head back: path and query, ``Authorization: Bearer ...``
and ``X-Api-Key`` (what a misbehaving proxy or a debug endpoint does). httpx
puts that line into its error text. The endpoint is probed from this machine
and from a remote vantage (curl over the test sshd) by ``opsdash collect``
into a real SQLite store; every byte of the store files and the output of the
commands that show endpoints are searched for the secret values.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from pathlib import Path
from typing import Iterator

import pytest

from opsdash.cli import main
from opsdash.textsafe import redact, redact_url, url_secrets
from tests.support.sshd import Sshd

TOKEN, API_KEY, SIG, PW, BEARER, HDR_KEY = (f"{n}-{secrets.token_hex(10)}" for n in
                                             ("tok", "apikey", "sig", "urlpw", "bearer", "hdrkey"))
SECRETS = (TOKEN, API_KEY, SIG, PW, BEARER, HDR_KEY)


@pytest.mark.parametrize("url,shown", [
    ("https://x.test/a?token=abc&page=2", "https://x.test/a?token=***&page=2"),
    ("https://u:pw@x.test/a?api_key=k#frag", "https://x.test/a?api_key=***#frag"),
    ("https://s3.test/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=c&X-Amz-Signature=s&X-Amz-Expires=60",
     "https://s3.test/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"),
    ("https://x.test/?sig=1&password=2&secret=3&access_token=4&auth=5&key=6&signature=7&Client_Secret=8",
     "https://x.test/?sig=***&password=***&secret=***&access_token=***&auth=***&key=***&signature=***"
     "&Client_Secret=***"),
    ("https://x.test/?x-api-key=1&oauth_token=2&db_passwd=3&author=me&keyword=k&q=token",
     "https://x.test/?x-api-key=***&oauth_token=***&db_passwd=***&author=me&keyword=k&q=token"),
    ("https://x.test/path/token=notaquery", "https://x.test/path/token=notaquery"),
    ("https://x.test/?token=", "https://x.test/?token="),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent


def test_redact_hides_every_form_of_a_secret() -> None:
    values = url_secrets("https://u:p%40ss@x.test/?token=a%2Fb+c&page=2")
    assert {"p%40ss", "p@ss", "a%2Fb+c", "a/b c"} <= set(values) and "2" not in values
    assert redact("got a/b c and p@ss, page 2", values) == "got *** and ***, page 2"
    assert redact(None, values) is None and redact("x", ["ab"]) == "x"  # too short to be a secret


@pytest.fixture
def echo_server() -> Iterator[int]:
    """Answers every request with a status line made of the request head (invalid HTTP)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    conn.sendall(b"HTTP/1.1 " + data.split(b"\r\n\r\n")[0].replace(b"\r\n", b" | ") + b"\r\n\r\n")
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    srv.close()


@pytest.mark.integration
def test_no_url_or_header_secret_reaches_the_store_or_any_output(
        echo_server: int, sshd: Sshd, tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    url = (f"http://ops:{PW}@127.0.0.1:{echo_server}/health?token={TOKEN}&page=2&api_key={API_KEY}"
           f"&X-Amz-Signature={SIG}")
    cfg = tmp_path / "c.toml"
    cfg.write_text(sshd.host_toml("vantage-1", probes=["local"]) + f"""
[[endpoints]]
name = "shop"
url = "{url}"
vantage = ["local", "vantage-1"]
interval = "1s"
timeout = 3
headers = {{ Authorization = "Bearer {BEARER}", X-Api-Key = "{HDR_KEY}", Accept = "application/json" }}
""")
    cfg.chmod(0o600)
    store = tmp_path / "s.sqlite"
    common = ["--config", str(cfg), "--store", str(store)]
    assert main(["collect", *common, "--duration", "3s"]) == 0
    out = capfdbinary.readouterr()
    shown = out.out + out.err

    # the store, every file of it (WAL included), byte for byte
    rows = b""
    for f in tmp_path.glob("s.sqlite*"):
        data = f.read_bytes()
        rows += data
        for s in SECRETS:
            assert s.encode() not in data, f"{s.split('-')[0]} secret in {f.name}"
    assert b"illegal status line" in rows and b"X-Api-Key: ***" in rows  # the echo was stored, scrubbed
    assert b"Authorization: Basic ***" in rows  # user:password@ sent as Basic auth, echoed, scrubbed
    assert b"token=***" in rows and b"vantage-1" in rows

    outputs = {}
    for argv in (["once"], ["once", "--format", "json"], ["alerts", "--all"], ["alerts", "--format", "json"],
                 ["handover"], ["handover", "--format", "json"], ["check-config"]):
        main([*argv, *common])
        out = capfdbinary.readouterr()
        outputs[" ".join(argv)] = out.out.decode()
        shown += out.out + out.err
    text = shown.decode()
    for s in SECRETS:
        assert s not in text, f"{s.split('-')[0]} secret in the output: ...{text[max(0, text.find(s) - 200):text.find(s) + 40]}"
    assert "token=***" in text and "X-Api-Key: ***" in text
    once = json.loads(outputs["once --format json"])
    assert [e["url"] for e in once["endpoints"]] == [
        f"http://127.0.0.1:{echo_server}/health?token=***&page=2&api_key=***&X-Amz-Signature=***"] * 2
    assert "token=***" in outputs["check-config"]
