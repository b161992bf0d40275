"""A real varnishd in front of a tiny real HTTP backend, for integration tests.

``Varnish(workdir).start()`` runs Debian's varnishd in the foreground (-F) on a
free 127.0.0.1 port, with its own working directory (-n) so it never meets a
system instance, malloc storage, and no management port (-T none). ``-j none``
because the default unix jail switches to the varnish/vcache users, who cannot
write into a root-owned pytest tmp dir; without a jail it runs as whoever runs
the tests. ``stop()`` signals the manager by PID, then its worker child by PID
if it outlived the manager.

``Backend`` is Python's http.server in a thread. Every answer is cacheable
(max-age=300) and counted, so a test can tell hits (Varnish answered) from
misses (the backend did).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.servers import free_port, need, stop, wait_listening

__all__ = ["Backend", "Varnish"]


class Backend:
    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with backend._lock:
                    backend.requests += 1
                body = f"page {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=300")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep pytest's output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Backend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class Varnish:
    def __init__(self, workdir: Path, backend_port: int):
        self.workdir = workdir  # the instance: what `varnishstat -n` is given
        self.backend_port = backend_port
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.child_pid: int | None = None

    def start(self, deadline_s: float = 30.0) -> Varnish:
        need("varnishd", "varnishstat")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir.parent / f"{self.workdir.name}.log", "wb")
        args = [
            "varnishd", "-F", "-j", "none", "-n", str(self.workdir),
            "-a", f"127.0.0.1:{self.port}", "-b", f"127.0.0.1:{self.backend_port}",
            "-s", "malloc,16m", "-T", "none",
        ]
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_listening(self.port, self.proc, deadline_s)  # the manager holds the socket
        # The counters live in the worker child's shared memory: ready when
        # varnishstat can read them (VCL compilation takes a second or two).
        end = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"varnishd exited with {self.proc.returncode}: {self.log_tail()}")
            r = subprocess.run(
                ["varnishstat", "-n", str(self.workdir), "-t", "1", "-j", "-f", "MAIN.uptime"],
                capture_output=True, text=True,
            )
            if r.returncode == 0 and "MAIN.uptime" in r.stdout:
                break
            if time.monotonic() > end:
                raise RuntimeError(f"varnishd counters unreadable after {deadline_s}s: {self.log_tail()}")
            time.sleep(0.1)
        self.child_pid = self._child()
        return self

    def _child(self) -> int | None:
        assert self.proc is not None
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def log_tail(self) -> str:
        try:
            return (self.workdir.parent / f"{self.workdir.name}.log").read_text(errors="replace")[-500:]
        except OSError:
            return ""

    def get(self, path: str) -> bytes:
        """One request on a fresh connection; the body."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read()

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)  # the manager stops its child on SIGTERM
        if self.child_pid:
            try:
                os.kill(self.child_pid, 0)
            except ProcessLookupError:
                return
            # Only if it is still ours: a reused PID would not be varnishd.
            try:
                cmd = Path(f"/proc/{self.child_pid}/cmdline").read_bytes()
            except OSError:
                return
            if cmd.startswith(b"varnishd"):
                os.kill(self.child_pid, signal.SIGKILL)
