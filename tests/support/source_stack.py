"""The Debian Prometheus stack on loopback (prometheus, node exporter, Alertmanager), started by PID and
stopped by PID, and the polling helpers the tests that talk to it share."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from tests.support.sshd import free_port

BINARIES = {
    "prometheus": "/usr/bin/prometheus",
    "node_exporter": "/usr/bin/prometheus-node-exporter",
    "alertmanager": "/usr/bin/prometheus-alertmanager",
    "promtool": "/usr/bin/promtool",
}
WAIT = 90.0  # generous: the test machine has 2 cores shared with other test runs


def wait_for(what: str, fn: Callable[[], Any], timeout: float = WAIT, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (httpx.HTTPError, OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


def get_json(url: str, **params: Any) -> Any:
    r = httpx.get(url, params=params, timeout=10)
    r.raise_for_status()
    return r.json()


class Stack:
    def __init__(self, root: Path):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.node_port, self.am_port, self.prom_port, self.metrics_port = (free_port() for _ in range(4))
        self.prom = f"http://127.0.0.1:{self.prom_port}"
        self.am = f"http://127.0.0.1:{self.am_port}"
        self.node_instance = f"127.0.0.1:{self.node_port}"

    def start(self, name: str, args: list[str]) -> None:
        log = open(self.root / f"{name}.log", "wb")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.root)
        log.close()
        self.procs.append(p)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)

    def log(self, name: str) -> str:
        try:
            return (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""
