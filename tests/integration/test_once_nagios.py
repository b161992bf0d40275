"""`opsdash once` as a Nagios check, against a real sshd and real HTTP servers: only
what was probed counts; CPU is measured before the host's own heavy probes run; error
lines are whole, and say what was tried."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsdash.cli import main
from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from tests.support.sshd import Sshd, free_port, keygen

pytestmark = pytest.mark.integration


def opsdash(*args: str) -> subprocess.CompletedProcess:
    """`opsdash ARGS` through the CLI's entry point in this process (what it writes to
    sys.stdout and sys.stderr captured): the same output without a Python start-up each."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv("OPSDASH_CONFIG", "/nonexistent")
        rc = main(list(args))
    return subprocess.CompletedProcess(["opsdash", *args], rc, out.getvalue(), err.getvalue())


@pytest.fixture
def http_ok():
    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    t.join()


def endpoint_toml(name: str, url: str) -> str:
    return f'[[endpoints]]\nname = "{name}"\nurl = "{url}"\ntimeout = "3s"\n'


def test_probe_http_with_healthy_endpoints_exits_ok_whatever_the_hosts(tmp_path: Path, sshd: Sshd, http_ok) -> None:
    # One host that is fine and one that is down (nothing listens): neither is asked.
    cfg = ('[defaults]\ntimeout = "3s"\n' + sshd.host_toml("web-1") + sshd.host_toml("gone", port=free_port())
           + endpoint_toml("home", http_ok))
    path = tmp_path / "config.toml"
    path.write_text(cfg)
    r = opsdash("once", "--probe", "http", "--format", "json", "--config", str(path))
    snap = json.loads(r.stdout)
    assert [e["state"] for e in snap["endpoints"]] == ["ok"]
    assert snap["status"] == "ok" and r.returncode == 0, snap
    assert all(h["health"] is None for h in snap["hosts"])
    # The same config probing everything: the dead host is what makes it critical.
    r = opsdash("once", "--format", "json", "--config", str(path))
    assert r.returncode == 2 and json.loads(r.stdout)["status"] == "critical"


def test_health_is_read_before_the_hosts_own_heavy_probes_start(tmp_path: Path, sshd: Sshd) -> None:
    stamp = tmp_path / "backup-started"
    # A backup check that records when it started on the host (the same clock as ours).
    cfg = sshd.host_toml("db-1", probes=["health", "patches"]) + f"""
  [[hosts.backups]]
  name = "nightly"
  kind = "command"
  command = "date +%s.%N > {stamp}; echo ok"
"""
    c = Collector(parse_config(cfg))
    cpu_read_at: list[float] = []

    def listen(samples) -> None:
        if any(s.metric == "host.cpu_percent" for s in samples):
            cpu_read_at.append(__import__("time").time())

    c.listeners.append(listen)
    asyncio.run(c.snapshot_once())
    hs = c.hosts["db-1"]
    assert hs.state == "ok" and hs.health is not None and hs.health.cpu_percent is not None
    assert hs.row("backup", "nightly").status.error is None
    assert cpu_read_at, "CPU was read"
    assert float(stamp.read_text()) >= cpu_read_at[-1], "the backup probe ran while CPU was being measured"


def test_a_host_key_error_is_printed_whole_with_the_presented_fingerprint(tmp_path: Path, sshd: Sshd) -> None:
    other = tmp_path / "other_key"
    keygen(other)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} " + " ".join(Path(f"{other}.pub").read_text().split()[:2]) + "\n")
    path = tmp_path / "config.toml"
    path.write_text(sshd.host_toml("web-with-a-longish-name", known_hosts=str(known)))
    presented = subprocess.run(["ssh-keygen", "-lf", str(sshd.dir / "host_ed25519.pub")],
                               capture_output=True, text=True, check=True).stdout.split()[1]
    snap = json.loads(opsdash("once", "--probe", "health", "--format", "json", "--config", str(path)).stdout)
    error = snap["hosts"][0]["error"]
    assert snap["hosts"][0]["state"] == "host-key-mismatch" and presented in error
    text = opsdash("once", "--probe", "health", "--config", str(path)).stdout
    lines = text.splitlines()
    # Wrapped at 100 columns, between words: only a word longer than a line (a deep
    # known_hosts path) may stick out, whole, so it can still be copied.
    long = [ln for ln in lines if len(ln) > 100]
    assert all(len(ln.split()[-1]) > 100 - 24 for ln in long), f"wrapped at 100 columns: {long}"
    start = next(i for i, ln in enumerate(lines) if "HOST-KEY-MISMATCH" in ln)
    block = [lines[start]] + [ln for ln in lines[start + 1:] if ln.startswith(" " * 24)]
    joined = " ".join(ln.strip() for ln in block)
    assert " ".join(error.split()) in joined, "nothing of the error is cut"
    assert presented in joined


def test_a_refused_endpoint_says_which_address_was_tried(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "config.toml"
    path.write_text(endpoint_toml("api", f"http://127.0.0.1:{port}/health")
                    + endpoint_toml("named", f"http://localhost:{port}/"))
    r = opsdash("once", "--format", "json", "--config", str(path))
    snap = json.loads(r.stdout)
    by = {e["name"]: e for e in snap["endpoints"]}
    assert by["api"]["state"] == "unreachable" and f"127.0.0.1:{port}" in by["api"]["error"]
    assert "localhost" in by["named"]["error"] and str(port) in by["named"]["error"]
    assert r.returncode == 2
    # One page per dead endpoint: "down"; its error rate is shown as inhibited.
    alerts = [a for a in snap["alerts"] if a["target"] == "api"]
    down = [a for a in alerts if a["rule"] == "endpoint-down"]
    assert down and down[0]["severity"] == "critical" and down[0]["summary"] == "api from local: down"
    assert all(a["inhibited"] for a in alerts if a["rule"] != "endpoint-down")
