"""A Prometheus or Alertmanager source whose error replies echo our request headers
(a misconfigured proxy does this) never gets its bearer token or password into the
store, a source row or any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsdash.store import Store
from tests.support import REPO

ROOT = REPO
TOKEN = "tok-9f3a1c77e2b54d0a"
PASSWORD = "pw-5e1d8c2ab7f04a33"


class _Echo(BaseHTTPRequestHandler):
    """Every request gets a 500 whose body is the request head, Authorization included."""

    def _echo(self) -> None:
        head = "you sent: " + "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        body = json.dumps({"status": "error", "errorType": "bad_data", "error": head}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _echo

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture
def echo_url():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_an_error_reply_echoing_credentials_never_reaches_the_store_or_output(tmp_path: Path, echo_url: str) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "pass").write_text(PASSWORD + "\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[[sources]]
kind = "prometheus"
name = "prom"
url = "{echo_url}"
interval = "1s"
bearer_token_file = "{tmp_path / 'token'}"

[[sources]]
kind = "alertmanager"
name = "am"
url = "{echo_url}"
interval = "1s"
username = "ops"
password_file = "{tmp_path / 'pass'}"
""")
    store_path = tmp_path / "s.db"
    env = {**os.environ, "OPSDASH_CONFIG": "/nonexistent"}
    collect = subprocess.run(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store_path),
         "--duration", "4s"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    store = Store(store_path)
    try:
        rows = {r["target"]: r["data"] for r in store.latest("source")}
    finally:
        store.close()
    # The sources did fail, and say so: the echo was read, then scrubbed.
    assert rows["prom"]["error"] and rows["am"]["error"], rows
    assert "you sent" in rows["prom"]["error"] and "***" in rows["prom"]["error"], rows["prom"]["error"]
    outputs = [collect.stdout, collect.stderr]
    for cmd in (["silence", "--match", "alertname=x", "--for", "1h", "--note", "t"], ["alerts"], ["alerts", "--format", "json"], ["handover"], ["once", "--format", "json"]):
        r = subprocess.run([sys.executable, "-m", "opsdash", *cmd, "--config", str(cfg), "--store", str(store_path)],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
        outputs += [r.stdout, r.stderr]
    blobs = [p.read_bytes() for p in tmp_path.glob("s.db*")]
    import base64
    basic = base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    for secret in (TOKEN, PASSWORD, basic):
        assert all(secret.encode() not in b for b in blobs), f"{secret} in the store"
        assert all(secret not in o for o in outputs), f"{secret} in an output"
