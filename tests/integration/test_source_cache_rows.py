"""A cache fed by a Prometheus source: its row has the rate from the counters' increase,
and when the source goes away the row says so, with no rate left to read as current."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from opsdash.collect.collector import Collector
from opsdash.collect.prom import poll_prometheus
from opsdash.collect.sources import PromState
from opsdash.config import parse_config
from opsdash.errors import ProbeError
from opsdash.model import CacheRow

pytestmark = pytest.mark.integration


class _Prom(BaseHTTPRequestHandler):
    """/api/v1/query: 90 for the hits' increase, 10 for the misses', nothing for the rest."""

    def do_GET(self) -> None:  # noqa: N802
        q = parse_qs(urlparse(self.path).query).get("query", [""])[0]
        value = "90" if "cache_hits" in q else "10" if "cache_misses" in q else None
        result = [{"metric": {}, "value": [1000.0, value]}] if value else []
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a) -> None:
        pass


async def test_a_source_cache_row_has_its_rate_then_says_the_source_is_gone() -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Prom)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    cfg = parse_config(f'''
[[sources]]
kind = "prometheus"
name = "prom"
url = "http://127.0.0.1:{port}"
timeout = "2s"
[sources.queries]
"cache.edge.hits" = "cache_hits_total"
"cache.edge.misses" = "cache_misses_total"
''')
    collector = Collector(cfg)
    written: list[tuple] = []
    collector.emit = lambda samples, latest: written.extend(latest)  # what the store would get
    state = PromState(cfg.sources[0])
    try:
        await poll_prometheus(collector, cfg.sources[0], state)
    finally:
        srv.shutdown()
        srv.server_close()
    rows = [CacheRow.from_json(d) for kind, _, name, _, d, _ in written if kind == "cache" and name == "edge"]
    assert [(r.hit_rate, r.error) for r in rows] == [(0.9, None)]
    written.clear()
    with pytest.raises(ProbeError):
        await poll_prometheus(collector, cfg.sources[0], state)  # nothing listens there now
    [row] = [CacheRow.from_json(d) for kind, _, name, _, d, _ in written if kind == "cache" and name == "edge"]
    assert row.hit_rate is None and row.error is not None and row.error.startswith("source prom: ")
