"""A loopback HTTP server speaking enough of the Prometheus and Alertmanager APIs to be
hostile: replies that never end, compressed bombs, and node_exporter gauges that are
NaN or ±Inf. Started in a thread on 127.0.0.1, stopped by ``close()``.

The first path segment picks the behaviour, so one server backs several ``[[sources]]``
(``url = "http://127.0.0.1:PORT/<mode>/<arg>..."``):

- ``/flood``: 200 with a JSON-looking body streamed until 3 GB or the client hangs up
  (no Content-Length: the client cannot know the size up front).
- ``/declared``: the same, with ``Content-Length: 3 GB`` announced.
- ``/gzipbomb``: ``Content-Encoding: gzip``, ~64 KiB on the wire that inflate to 64 MiB.
- ``/node/<gauge>/<value>``: a healthy node_exporter host (instance ``n-<gauge>:9100``)
  whose ``<gauge>`` reads ``<value>`` (``NaN``, ``+Inf``, ``-Inf``; ``none`` = all finite;
  ``all`` = every gauge NaN).
- ``/ok``: a small 200 (an endpoint probe's target).
"""

from __future__ import annotations

import collections
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FLOOD_BYTES = 3 * 1024**3
_BLOCK = (b'{"metric":{"__name__":"up","instance":"flood:9100","job":"node"},"value":[1.0,"1"]},' * 13000)

# The baseline host: every figure exact, so a test can tell "unknown" from "shown".
MEM_TOTAL, MEM_AVAIL, SWAP_TOTAL, SWAP_FREE = 8e9, 6e9, 1e9, 7.5e8
GAUGES = {
    "node_memory_MemTotal_bytes": MEM_TOTAL, "node_memory_MemAvailable_bytes": MEM_AVAIL,
    "node_memory_SwapTotal_bytes": SWAP_TOTAL, "node_memory_SwapFree_bytes": SWAP_FREE,
    "node_load1": 0.5, "node_load5": 0.25, "node_load15": 0.125,
    "node_boot_time_seconds": 1_795_000_000.0, "node_time_seconds": 1_795_086_400.5,
}
FS = {  # mountpoint -> (size, free, avail)
    "/": (100_000.0, 30_000.0, 25_000.0),
    "/srv": (200_000.0, 100_000.0, 100_000.0),
}
CPU, CPUS = 12.5, 4.0
# Expected Health JSON of the baseline host.
BASELINE = {
    "cpu_percent": 12.5, "mem_percent": 25.0, "swap_percent": 25.0,
    "load1": 0.5, "load5": 0.25, "load15": 0.125, "cpus": 4, "uptime_s": 86400.5,
    "disks": [{"mount": "/", "percent": 73.68, "free_bytes": 25000},
              {"mount": "/srv", "percent": 50.0, "free_bytes": 100000}],
}
# Every figure node_health reads, as the fake's <gauge> names it.
ALL_GAUGES = (*GAUGES, "fs_size_root", "fs_free_root", "fs_avail_root", "cpu", "cpus", "up")


def expected_health(gauge: str) -> dict[str, Any]:
    """The Health JSON when ``gauge`` alone is NaN/±Inf: that figure unknown, the rest as BASELINE."""
    h = json.loads(json.dumps(BASELINE))
    key = {
        "node_memory_MemTotal_bytes": "mem_percent", "node_memory_MemAvailable_bytes": "mem_percent",
        "node_memory_SwapTotal_bytes": "swap_percent", "node_memory_SwapFree_bytes": "swap_percent",
        "node_load1": "load1", "node_load5": "load5", "node_load15": "load15",
        "node_boot_time_seconds": "uptime_s", "node_time_seconds": "uptime_s",
        "cpu": "cpu_percent", "cpus": "cpus",
    }.get(gauge)
    if key:
        h[key] = None
    if gauge.startswith("fs_"):
        h["disks"] = [d for d in h["disks"] if d["mount"] != "/"]  # that mount's percent is unknown
    return h


def _v(x: float | str) -> str:
    return x if isinstance(x, str) else repr(float(x))


def node_reply(promql: str, gauge: str, value: str) -> dict[str, Any]:
    """The reply to one of opsdash's node_exporter queries (prom.host_queries)."""
    inst = f"n-{gauge}:9100"
    base = {"instance": inst, "job": "node"}

    def val(name: str, x: float) -> str:
        return value if value != "none" and (gauge == name or gauge == "all") else _v(x)

    result: list[dict[str, Any]]
    if promql.startswith("up{"):
        result = [{"metric": {"__name__": "up", **base}, "value": [0, val("up", 1.0)]}]
    elif promql.startswith("node_uname_info"):
        result = [{"metric": {"__name__": "node_uname_info", **base, "nodename": inst.split(":")[0]},
                   "value": [0, "1"]}]
    elif "node_memory_" in promql:
        result = [{"metric": {"__name__": k, **base}, "value": [0, val(k, x)]} for k, x in GAUGES.items()]
    elif "node_filesystem_" in promql:
        result = []
        for mount, figs in FS.items():
            for part, x in zip(("size", "free", "avail"), figs):
                name = f"fs_{part}_root" if mount == "/" else f"fs_{part}_srv"
                result.append({"metric": {"__name__": f"node_filesystem_{part}_bytes", **base, "mountpoint": mount,
                                          "device": "/dev/vda", "fstype": "ext4"}, "value": [0, val(name, x)]})
    elif promql.startswith("100 * sum"):
        result = [{"metric": {"instance": inst}, "value": [0, val("cpu", CPU)]}]
    elif promql.startswith("count by"):
        result = [{"metric": {"instance": inst}, "value": [0, val("cpus", CPUS)]}]
    else:
        result = []
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # a body without Content-Length ends when we close

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        mode = parts[0] if parts else ""
        try:
            if mode in ("flood", "declared"):
                with self.server.lock:  # type: ignore[attr-defined]
                    self.server.flood_requests[url.path.rsplit("/", 1)[-1]] += 1  # type: ignore[attr-defined]
                self._flood(declared=mode == "declared")
            elif mode == "gzipbomb":
                self._send(200, self.server.bomb, {"Content-Encoding": "gzip"})  # type: ignore[attr-defined]
            elif mode == "node" and len(parts) >= 3:
                q = parse_qs(url.query).get("query", [""])[0]
                self._send(200, json.dumps(node_reply(q, parts[1], parts[2])).encode())
            elif mode == "ok":
                self._send(200, b"ok\n", {"Content-Type": "text/plain"})
            else:
                self._send(404, b'{"status":"error","errorType":"not_found","error":"no such path"}')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: what a capped reader does

    do_POST = do_DELETE = do_GET

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _flood(self, declared: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if declared:
            self.send_header("Content-Length", str(FLOOD_BYTES))
        self.end_headers()
        head = b'{"status":"success","data":{"resultType":"vector","result":['
        self.wfile.write(head)
        sent = len(head)
        while sent < FLOOD_BYTES:
            self.wfile.write(_BLOCK)
            sent += len(_BLOCK)
            with self.server.lock:  # type: ignore[attr-defined]
                self.server.flood_sent += len(_BLOCK)  # type: ignore[attr-defined]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # a poll opens ~6 connections per source at once; the default backlog of 5 drops SYNs
    daemon_threads = True


class FakePrometheus:
    def __init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.lock = threading.Lock()  # type: ignore[attr-defined]
        self.httpd.flood_sent = 0  # type: ignore[attr-defined]
        self.httpd.flood_requests = collections.Counter()  # type: ignore[attr-defined]  # by last path segment
        self.httpd.bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-prometheus", daemon=True)
        self._thread.start()

    @property
    def flood_sent(self) -> int:
        return self.httpd.flood_sent  # type: ignore[attr-defined, no-any-return]

    def flood_requests(self, last_segment: str) -> int:
        with self.httpd.lock:  # type: ignore[attr-defined]
            return self.httpd.flood_requests[last_segment]  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)
