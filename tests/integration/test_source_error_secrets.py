"""A Prometheus or Alertmanager source whose error replies echo our request headers
(a misconfigured proxy does this) never gets its bearer token or password into the
store, a source row or any output."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsdash.cli import main
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


def _source_rows(store_path: Path) -> dict[str, dict]:
    with Store(store_path, readonly=True) as store:
        return {r["target"]: r["data"] for r in store.latest("source")}


def _both_sources_failed(store_path: Path) -> bool:
    try:
        rows = _source_rows(store_path)
    except Exception:
        return False  # not created yet
    return all((rows.get(name) or {}).get("error") for name in ("prom", "am"))


def test_an_error_reply_echoing_credentials_never_reaches_the_store_or_output(
        tmp_path: Path, echo_url: str, capfd: pytest.CaptureFixture[str]) -> None:
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
    # The collector runs until both sources have failed at least once (a few 1 s polls),
    # then is stopped as a service manager would; --duration only bounds a failing run.
    collect = subprocess.Popen(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store_path),
         "--duration", "60s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while collect.poll() is None and time.monotonic() < deadline and not _both_sources_failed(store_path):
        time.sleep(0.2)
    if collect.poll() is None:
        collect.send_signal(signal.SIGTERM)
    collect_out, collect_err = collect.communicate(timeout=60)
    rows = _source_rows(store_path)
    # The sources did fail, and say so: the echo was read, then scrubbed.
    assert rows["prom"]["error"] and rows["am"]["error"], rows
    assert "you sent" in rows["prom"]["error"] and "***" in rows["prom"]["error"], rows["prom"]["error"]
    outputs = [collect_out, collect_err]
    # The commands that read the store and the sources run in this process (the CLI's own
    # entry point, its stdout and stderr captured at the file descriptors): the same output
    # without a Python start-up each.
    capfd.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPSDASH_CONFIG", "/nonexistent")
        for cmd in (["silence", "--match", "alertname=x", "--for", "1h", "--note", "t"], ["alerts"], ["alerts", "--format", "json"], ["handover"], ["once", "--format", "json"]):
            rc = main([*cmd, "--config", str(cfg), "--store", str(store_path)])
            out = capfd.readouterr()
            assert rc in (0, 1, 2, 3), cmd
            outputs += [out.out, out.err]
    blobs = [p.read_bytes() for p in tmp_path.glob("s.db*")]
    basic = base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    for secret in (TOKEN, PASSWORD, basic):
        assert all(secret.encode() not in b for b in blobs), f"{secret} in the store"
        assert all(secret not in o for o in outputs), f"{secret} in an output"
