"""Issue 2, end to end: `opsdash once` against a real sshd and real HTTP servers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsdash.cli import main
from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from opsdash.stats import percentile
from tests.support.sshd import Sshd, free_port

pytestmark = pytest.mark.integration


def opsdash(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`opsdash ARGS` through the CLI's entry point in this process (what it writes to
    sys.stdout and sys.stderr captured): the same output without a Python start-up each."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for k, v in {"OPSDASH_CONFIG": "/nonexistent", **(env or {})}.items():
            mp.setenv(k, v)
        rc = main(list(args))
    return subprocess.CompletedProcess(["opsdash", *args], rc, out.getvalue(), err.getvalue())


def opsdash_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`opsdash ARGS` in a process of its own: where a timing must not share this process's
    interpreter with the test's HTTP server threads."""
    return subprocess.run(
        [sys.executable, "-m", "opsdash", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "OPSDASH_CONFIG": "/nonexistent"},
    )


def meminfo_percent() -> float:
    kv = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, _, v = line.partition(":")
        kv[k] = int(v.split()[0])
    return 100.0 * (kv["MemTotal"] - kv["MemAvailable"]) / kv["MemTotal"]


def test_fifty_hosts_on_one_sshd_agree_with_free_and_df(sshd: Sshd, tmp_path: Path) -> None:
    cfg = "[defaults]\ntimeout = \"10s\"\n" + "".join(sshd.host_toml(f"web-{i}") for i in range(50))
    path = tmp_path / "config.toml"
    path.write_text(cfg)
    t0 = time.monotonic()
    r = opsdash("once", "--format", "json", "--config", str(path))
    wall = time.monotonic() - t0
    assert r.returncode in (0, 1, 2), r.stderr
    snap = json.loads(r.stdout)
    assert len(snap["hosts"]) == 50
    assert {h["state"] for h in snap["hosts"]} == {"ok"}, [h["error"] for h in snap["hosts"] if h["error"]]
    assert wall < 10, f"50 hosts took {wall:.1f}s"
    mem = meminfo_percent()
    df = subprocess.run(["df", "-P", "-k", "/"], capture_output=True, text=True).stdout.splitlines()[1].split()
    root_pct = 100.0 * int(df[2]) / (int(df[2]) + int(df[3]))
    for h in snap["hosts"]:
        hl = h["health"]
        assert abs(hl["mem_percent"] - mem) < 5
        assert hl["cpus"] == os.cpu_count()
        assert 0 <= hl["cpu_percent"] <= 100
        root = next(d for d in hl["disks"] if d["mount"] == "/")
        assert abs(root["percent"] - root_pct) < 1


def test_failure_states(sshd: Sshd, tmp_path: Path, silent_listener: int) -> None:
    empty_known = tmp_path / "empty_known_hosts"
    empty_known.write_text("")
    cfg = (
        "[defaults]\ntimeout = \"3s\"\n"
        + sshd.host_toml("good")
        + sshd.host_toml("stranger", known_hosts=str(empty_known))
        + sshd.host_toml("nothing-there", port=free_port())
        + sshd.host_toml("mute", port=silent_listener)
    )
    path = tmp_path / "config.toml"
    path.write_text(cfg)
    t0 = time.monotonic()
    r = opsdash("once", "--format", "json", "--config", str(path))
    wall = time.monotonic() - t0
    snap = json.loads(r.stdout)
    states = {h["name"]: h["state"] for h in snap["hosts"]}
    assert states == {"good": "ok", "stranger": "host-key-unknown", "nothing-there": "unreachable", "mute": "timeout"}
    assert r.returncode == 2  # hosts down are CRITICAL
    assert wall < 3 + 1 + 3, f"a mute host must time out within the timeout plus a second, took {wall:.1f}s"
    errors = {h["name"]: h["error"] for h in snap["hosts"]}
    assert "known_hosts" in errors["stranger"]
    assert "refused" in errors["nothing-there"]


def test_changed_host_key_is_refused_with_both_fingerprints(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} " + " ".join((other.with_suffix(".pub")).read_text().split()[:2]) + "\n")
    path = tmp_path / "config.toml"
    path.write_text(sshd.host_toml("moved", known_hosts=str(wrong), host_key_policy="accept-new"))
    snap = json.loads(opsdash("once", "--format", "json", "--config", str(path)).stdout)
    h = snap["hosts"][0]
    assert h["state"] == "host-key-mismatch"
    assert h["error"].count("SHA256:") == 2
    assert wrong.read_text().count("\n") == 1  # never "fixed" behind the user's back


def test_accept_new_appends_only_unknown_hosts(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "kh"
    path = tmp_path / "config.toml"
    path.write_text(sshd.host_toml("new", known_hosts=str(known), host_key_policy="accept-new"))
    assert json.loads(opsdash("once", "--format", "json", "--config", str(path)).stdout)["hosts"][0]["state"] == "ok"
    lines = known.read_text().splitlines()
    assert len(lines) == 1 and sshd.host_pub in lines[0]
    # Seen now: a second run checks strictly and appends nothing.
    assert json.loads(opsdash("once", "--format", "json", "--config", str(path)).stdout)["hosts"][0]["state"] == "ok"
    assert known.read_text().splitlines() == lines


# --- HTTP ---------------------------------------------------------------------------


class _Server:
    def __init__(self, delay_for: "callable"):
        count = {"n": 0}
        lock = threading.Lock()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with lock:
                    n = count["n"]
                    count["n"] += 1
                time.sleep(delay_for(n))
                body = b"ok\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Cache", "MISS")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_ttfb_matches_injected_delay_and_curl(tmp_path: Path) -> None:
    srv = _Server(lambda n: 0.150)
    try:
        url = f"http://127.0.0.1:{srv.port}/slow"
        path = tmp_path / "config.toml"
        path.write_text(f'[[endpoints]]\nname = "slow"\nurl = "{url}"\n')
        r = opsdash_process("once", "--format", "json", "--probe", "http", "--config", str(path))
        ep = json.loads(r.stdout)["endpoints"][0]
        assert ep["state"] == "ok" and ep["status"] == 200 and ep["cache"] == "MISS"
        curl = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_starttransfer}", url],
                              capture_output=True, text=True, check=True)
        curl_ms = float(curl.stdout) * 1000
        assert abs(ep["ttfb_ms"] - 150) < 10, ep
        assert abs(ep["ttfb_ms"] - curl_ms) < 10, (ep["ttfb_ms"], curl_ms)
        ph = ep["phases"]
        assert ph["dns_ms"] <= ph["connect_ms"] <= ph["ttfb_ms"] <= ph["total_ms"]
    finally:
        srv.close()


async def test_http_samples_percentiles_are_exact() -> None:
    # 40 requests: every 20th is slow (300 ms), the rest fast (20 ms): 5% slow, deterministic.
    srv = _Server(lambda n: 0.300 if n % 20 == 19 else 0.020)
    try:
        cfg = parse_config(f'[[endpoints]]\nname = "mixed"\nurl = "http://127.0.0.1:{srv.port}/"\nwindow = "1h"\n')
        c = Collector(cfg)
        timings: list[float] = []
        c.listeners.append(lambda ss: timings.extend(s.value for s in ss if s.metric == "endpoint.ttfb_ms"))
        await c.snapshot_once(probes={"http"}, http_samples=40)
        summary = c.endpoint_json(cfg.endpoints[0], "local")
        assert summary["samples"] == 40 and len(timings) == 40
        assert summary["p95_ms"] == round(percentile(timings, 95), 3)
        assert summary["p99_ms"] == round(percentile(timings, 99), 3)
        assert summary["p50_ms"] == round(percentile(timings, 50), 3)
        assert 15 < summary["p50_ms"] < 40
        assert 290 < summary["p99_ms"] < 330  # the two slow ones dominate p99
        assert summary["p95_ms"] < summary["p99_ms"]
    finally:
        srv.close()


def test_endpoint_down_is_critical(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[[endpoints]]\nname = "gone"\nurl = "http://127.0.0.1:{free_port()}/"\n')
    r = opsdash("once", "--format", "json", "--probe", "http", "--config", str(path))
    snap = json.loads(r.stdout)
    assert r.returncode == 2 and snap["status"] == "critical"
    assert snap["endpoints"][0]["state"] == "unreachable"


def test_basic_auth_in_an_endpoint_url_is_sent_but_never_shown(tmp_path: Path) -> None:
    seen: list[str] = []

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200 if self.headers.get("Authorization") else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "config.toml"
        path.write_text(f'[[endpoints]]\nname = "private"\nurl = "http://ops:hunter2@127.0.0.1:{httpd.server_address[1]}/"\n')
        r = opsdash("once", "--format", "json", "--probe", "http", "--config", str(path))
        ep = json.loads(r.stdout)["endpoints"][0]
        assert ep["state"] == "ok" and seen and seen[0].startswith("Basic ")
        assert "hunter2" not in r.stdout + r.stderr
        assert ep["url"].startswith("http://127.0.0.1:")
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_jump_chains_through_another_hosts_connection(sshd: Sshd) -> None:
    from opsdash.collect.health import health_script
    from opsdash.collect.ssh import SSHHost

    cfg = parse_config(sshd.host_toml("bastion") + sshd.host_toml("inner", jump="bastion"))
    bastion = SSHHost(cfg.host("bastion"))
    inner = SSHHost(cfg.host("inner"), jump_host=lambda name: bastion if name == "bastion" else None)
    try:
        out, rc = await inner.shell_request(health_script(), 10)
        assert rc == 0 and "=== meminfo ===" in out
        # Nothing polled the bastion: its connection exists because inner tunnelled through it.
        assert bastion.connects == 1 and inner.connects == 1
    finally:
        await inner.close()
        await bastion.close()


def test_ssh_config_alias_user_port_and_identity_are_honoured(sshd: Sshd, tmp_path: Path) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host webalias\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n  IdentityFile {sshd.client_key}\n"
    )
    path = tmp_path / "config.toml"
    # No port, user or key in opsdash's config: all of it comes from the OpenSSH config.
    path.write_text(f'[[hosts]]\nname = "web"\naddress = "webalias"\nknown_hosts = "{sshd.known_hosts}"\n'
                    f'ssh_config = "{ssh_config}"\n')
    snap = json.loads(opsdash("once", "--format", "json", "--probe", "health", "--config", str(path)).stdout)
    assert snap["hosts"][0]["state"] == "ok", snap["hosts"][0]["error"]
