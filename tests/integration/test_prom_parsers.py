"""Prometheus / Alertmanager replies (captured from Prometheus 2.42 and Alertmanager 0.25,
tests/fixtures) through the pure parts of opsdash/collect/prom.py, alertmanager.py and
metrics_out.py, with exact values."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from opsdash.collect import alertmanager as am
from opsdash.collect import prom
from opsdash.collect.checks import CheckState
from opsdash.collect.metrics_out import TTFBHistograms, escape_label, parse_addr, render, serve_metrics
from opsdash.config import SourceConfig, parse_config
from opsdash.errors import ParseError
from opsdash.model import BackupRow, BackupStatus, CacheRow, CacheStats, PatchesRow, PatchStatus, RestoreTest
from opsdash.store import Store
from tests.support import FIXTURES
from tests.support.sshd import free_port

FIX = FIXTURES


def load(name: str):
    return json.loads((FIX / name).read_text())


# --- Prometheus query replies ------------------------------------------------------------


def test_instant_vector_up() -> None:
    v = prom.parse_vector(load("prometheus-query-instant-vector-up.json"))
    assert v == [
        ({"__name__": "up", "instance": "127.0.0.1:19090", "job": "prometheus"}, 1.0),
        ({"__name__": "up", "instance": "127.0.0.1:19093", "job": "alertmanager"}, 1.0),
        ({"__name__": "up", "instance": "127.0.0.1:19999", "job": "down-target"}, 0.0),
    ]


def test_histogram_quantile_values_and_nan() -> None:
    v = prom.parse_vector(load("prometheus-query-histogram-quantile-p95.json"))
    assert v == [({}, 0.33815985817366423)]
    by = prom.parse_vector(load("prometheus-query-histogram-quantile-p95-by-handler.json"))
    assert [h["handler"] for h, _ in by] == ["/-/ready", "/api/v1/query", "/api/v1/targets", "/metrics"]
    assert math.isnan(by[0][1]) and by[1][1] == 0.095 and math.isnan(by[2][1])
    assert prom.worst(by) == 0.37995848518086095  # NaN (no traffic) is skipped, not a zero
    assert prom.finite(by[0][1]) is None


def test_scalar_empty_range() -> None:
    assert prom.parse_scalar(load("prometheus-query-scalar.json")) == 1.0
    assert prom.parse_vector(load("prometheus-query-scalar.json")) == [({}, 1.0)]
    assert prom.parse_vector(load("prometheus-query-empty-result.json")) == []
    assert prom.worst([]) is None
    m = prom.parse_matrix(load("prometheus-query-range-up.json"))
    assert m == [({"__name__": "up", "instance": "127.0.0.1:19090", "job": "prometheus"},
                  [(1795330430.0, 1.0), (1795330440.0, 1.0), (1795330450.0, 1.0)])]
    with pytest.raises(ParseError, match="expected an instant vector, got resultType 'matrix'"):
        prom.parse_vector(load("prometheus-query-range-up.json"))


def test_error_reply_names_prometheus_error() -> None:
    with pytest.raises(prom.PromQueryError) as e:
        prom.parse_vector(load("prometheus-query-error-bad-data.json"), 400)
    assert str(e.value) == 'bad_data: invalid parameter "query": 1:4: parse error: missing unit character in duration'
    with pytest.raises(ParseError):
        prom.parse_vector({"data": {}}, 502)
    with pytest.raises(ParseError, match="not a sample value"):
        prom.parse_vector({"status": "success", "data": {"resultType": "vector",
                                                         "result": [{"metric": {}, "value": [1, "abc"]}]}})


# --- identity -------------------------------------------------------------------------------


def test_instance_host() -> None:
    assert prom.instance_host("web-1:9100") == "web-1"
    assert prom.instance_host("10.0.4.11:9100") == "10.0.4.11"
    assert prom.instance_host("[::1]:9100") == "::1"
    assert prom.instance_host("::1") == "::1"
    assert prom.instance_host("db01") == "db01"
    assert prom.instance_host("https://web-2.example.com:9100/metrics") == "web-2.example.com"


def test_match_host_rule() -> None:
    cfg = parse_config(
        '[[hosts]]\nname = "web-1"\naddress = "10.0.4.11"\n'
        '[[hosts]]\nname = "DB-1"\n', "t.toml")
    assert prom.match_host(cfg.hosts, "10.0.4.11:9100").name == "web-1"  # address
    assert prom.match_host(cfg.hosts, "web-1:9100").name == "web-1"  # name
    assert prom.match_host(cfg.hosts, "db-1:9100").name == "DB-1"  # case-insensitive
    assert prom.match_host(cfg.hosts, "10.9.9.9:9100", nodename="web-1").name == "web-1"  # nodename
    assert prom.match_host(cfg.hosts, "10.9.9.9:9100", nodename="other") is None


def test_label_selector_escapes() -> None:
    assert prom.label_selector({"job": "node", "x": 'a"b\\c'}) == 'job="node",x="a\\"b\\\\c"'
    assert prom.host_queries({"job": "node"})["up"] == 'up{job="node"}'
    assert prom.host_queries({})["cpus"] == 'count by (instance) (node_cpu_seconds_total{mode="idle"})'
    assert prom.host_queries({}, {"up": "up{job=~\"n.*\"}"})["up"] == 'up{job=~"n.*"}'


# --- node_exporter -> Health -----------------------------------------------------------------


def _s(name: str, inst: str = "n1:9100", **labels: str):
    return {"__name__": name, "instance": inst, "job": "node", **labels}


def test_node_health_exact() -> None:
    up = [({"__name__": "up", "instance": "n1:9100", "job": "node", "rack": "r1"}, 1.0),
          ({"__name__": "up", "instance": "n2:9100", "job": "node"}, 0.0)]
    uname = [({**_s("node_uname_info"), "nodename": "box1"}, 1.0)]
    gauges = [
        (_s("node_memory_MemTotal_bytes"), 8_000_000_000.0),
        (_s("node_memory_MemAvailable_bytes"), 6_000_000_000.0),
        (_s("node_memory_SwapTotal_bytes"), 1_000_000_000.0),
        (_s("node_memory_SwapFree_bytes"), 750_000_000.0),
        (_s("node_load1"), 0.5), (_s("node_load5"), 0.25), (_s("node_load15"), 0.125),
        (_s("node_boot_time_seconds"), 1_795_000_000.0), (_s("node_time_seconds"), 1_795_086_400.5),
    ]
    fs = [
        (_s("node_filesystem_size_bytes", mountpoint="/", device="/dev/vda"), 100_000.0),
        (_s("node_filesystem_free_bytes", mountpoint="/", device="/dev/vda"), 30_000.0),
        (_s("node_filesystem_avail_bytes", mountpoint="/", device="/dev/vda"), 25_000.0),
        (_s("node_filesystem_size_bytes", mountpoint="/srv data", device="/dev/vdb"), 0.0),  # skipped
    ]
    cpu = [({"instance": "n1:9100"}, 12.345678)]
    cpus = [({"instance": "n1:9100"}, 4.0)]
    [n1] = prom.node_health(up, uname, gauges, fs, cpu, cpus)
    assert n1.instance == "n1:9100" and n1.up and n1.nodename == "box1"
    assert n1.labels == {"instance": "n1:9100", "job": "node", "rack": "r1"}
    h = n1.health
    assert h.to_json() == {
        "cpu_percent": 12.35, "mem_percent": 25.0, "swap_percent": 25.0,
        "load1": 0.5, "load5": 0.25, "load15": 0.125, "cpus": 4, "uptime_s": 86400.5,
        "disks": [{"mount": "/", "percent": 73.68, "free_bytes": 25000}],  # 70000 / (70000 + 25000), as df
    }
    # A known instance whose exporter went down is reported down, not dropped.
    n1b, n2 = prom.node_health(up, uname, gauges, fs, cpu, cpus, known={"n2:9100"})
    assert n2.instance == "n2:9100" and not n2.up and n2.health is None
    assert n2.error == "node_exporter target n2:9100 is down (up == 0)"


def test_node_health_without_memory_metrics_is_an_error_not_zeros() -> None:
    [r] = prom.node_health([], [(_s("node_uname_info"), 1.0)], [], [], [], [])
    assert r.health is None and "node_memory_MemTotal_bytes" in r.error


# --- endpoint and cache queries --------------------------------------------------------------


def test_endpoint_queries_from_histogram_shorthand() -> None:
    q = prom.endpoint_queries({"histogram": 'http_request_duration_seconds{handler="/"}',
                               "error_rate": "sum(rate(errs[5m])) / sum(rate(reqs[5m]))"}, 300.0)
    assert q == {
        "p50": 'histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{handler="/"}[300s])))',
        "p95": 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{handler="/"}[300s])))',
        "p99": 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{handler="/"}[300s])))',
        "error_rate": "sum(rate(errs[5m])) / sum(rate(reqs[5m]))",
    }
    assert prom.endpoint_queries({"p95": "x"}, 60) == {"p95": "x"}


def test_endpoint_row_from_quantiles() -> None:
    cfg = parse_config('[[sources]]\nkind = "prometheus"\nname = "prom"\nurl = "http://127.0.0.1:9090"\n'
                       '[[endpoints]]\nname = "shop"\nurl = "https://shop.example/"\nsource = "prom"\n', "t.toml")
    ep = cfg.endpoints[0]
    res = {"p95": prom.parse_vector(load("prometheus-query-histogram-quantile-p95.json")),
           "p99": prom.parse_vector(load("prometheus-query-histogram-quantile-p95-by-handler.json")),
           "p50": prom.PromQueryError("bad_data: nope")}
    row, samples = prom._endpoint(cfg.sources[0], ep, 100.0, res)
    row = row.to_json()  # the row as stored
    assert row["p95_ms"] == 338.16 and row["p99_ms"] == 379.958 and row["p50_ms"] is None
    assert row["state"] == "error" and row["error"] == "p50: bad_data: nope" and row["vantage"] == "prom"
    assert [(s.metric, s.value, dict(s.labels)) for s in samples] == [
        ("endpoint.ttfb_p95_ms", 338.16, {"vantage": "prom"}), ("endpoint.ttfb_p99_ms", 379.958, {"vantage": "prom"})]


def test_cache_queries_and_stats() -> None:
    q = prom.cache_queries({"cache.sessions.hits": 'redis_keyspace_hits_total{instance="r:9121"}',
                            "cache.sessions.misses": 'redis_keyspace_misses_total{instance="r:9121"}',
                            "cache.half.hits": "x", "up": "up"})
    assert q == {"sessions": {"hits": 'sum(increase(redis_keyspace_hits_total{instance="r:9121"}[300s]))',
                              "misses": 'sum(increase(redis_keyspace_misses_total{instance="r:9121"}[300s]))'}}
    assert prom.cache_stats("sessions", 900.0, 100.0) == CacheStats("sessions", "prometheus", 0.9, 900, 100, 300.0, 3.333)
    assert prom.cache_stats("s", float("nan"), 1.0).hit_rate is None


# --- HTTP: auth, secrets -------------------------------------------------------------------------


class _Capture(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        _Capture.seen.append(dict(self.headers))
        self.send_response(401)
        self.end_headers()

    def log_message(self, *a) -> None:
        pass


@pytest.fixture
def capture_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Capture.seen = []
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


async def test_bearer_from_file_and_refused_credentials(tmp_path: Path, capture_server: int) -> None:
    tok = tmp_path / "token"
    tok.write_text("s3cret-token\n")
    cfg = SourceConfig("prometheus", "p", f"http://127.0.0.1:{capture_server}", timeout=5.0, bearer_token_file=str(tok))
    async with prom.http_client(cfg) as c:
        with pytest.raises(prom.SourceDown) as e:
            await prom.query(c, cfg, "up")
    assert e.value.state == "auth-failed" and "s3cret" not in str(e.value)
    assert _Capture.seen[0]["Authorization"] == "Bearer s3cret-token"


async def test_basic_auth_from_password_file(tmp_path: Path, capture_server: int) -> None:
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    cfg = SourceConfig("alertmanager", "a", f"http://127.0.0.1:{capture_server}", timeout=5.0,
                       username="ops", password_file=str(pw))
    with pytest.raises(prom.SourceDown):
        async with prom.http_client(cfg) as c:
            await am._get_json(c, cfg, "/api/v2/alerts")
    assert _Capture.seen[0]["Authorization"] == "Basic b3BzOmh1bnRlcjI="


async def test_secrets_never_in_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "tok-xyz")
    port = free_port()
    cfg = SourceConfig("prometheus", "p", f"http://user:pw-abc@127.0.0.1:{port}", timeout=2.0, bearer_token_env="PROM_TOKEN")
    async with prom.http_client(cfg) as c:
        with pytest.raises(prom.SourceDown) as e:
            await prom.query(c, cfg, "up")
    msg = str(e.value)
    assert e.value.state == "unreachable" and "tok-xyz" not in msg and "pw-abc" not in msg
    assert f"http://127.0.0.1:{port}" in msg
    missing = SourceConfig("prometheus", "p", "http://127.0.0.1:1", bearer_token_env="OPSDASH_NO_SUCH_VAR")
    with pytest.raises(prom.SourceDown, match="OPSDASH_NO_SUCH_VAR.*not set"):
        prom.http_client(missing)


# --- Alertmanager ---------------------------------------------------------------------------------


def test_alertmanager_alerts_exact() -> None:
    alerts = am.parse_alerts(load("alertmanager-api-v2-alerts.json"))
    assert [(a.fingerprint, a.state, a.silenced_by, a.inhibited_by) for a in alerts] == [
        ("00bdb9e0d7d26b27", "active", (), ()),
        ("22ca3939db15d79f", "active", (), ()),
        ("2b9757ab228e1896", "suppressed", ("ac6257b5-14fb-4279-9afc-c45777e5980c",), ()),
    ]
    assert alerts[2].generator_url is None  # missing in the reply
    assert alerts[0].starts_at == 1795330455.0 and alerts[1].starts_at == 1795330374.935
    cfg = parse_config('[[hosts]]\nname = "web-1"\naddress = "web01"\n', "t.toml")
    a = [am.to_alert(x, "am", cfg) for x in alerts]
    assert [(x.id, x.rule, x.target, x.severity, x.state, x.silenced, x.source) for x in a] == [
        ("am-00bdb9e0d7d26b27", "BackupTooOld", "db01", "warning", "firing", False, "alertmanager:am"),
        ("am-22ca3939db15d79f", "TargetDown", "127.0.0.1", "critical", "firing", False, "alertmanager:am"),
        ("am-2b9757ab228e1896", "DiskAlmostFull", "web-1", "warning", "firing", True, "alertmanager:am"),
    ]
    assert a[1].summary == "Target 127.0.0.1:19999 of job down-target is down" and a[1].tier == "L2"
    assert a[1].labels["env"] == "fixture"


def test_alertmanager_silences_exact() -> None:
    [s] = am.parse_silences(load("alertmanager-api-v2-silences.json"))
    assert s.id == "ac6257b5-14fb-4279-9afc-c45777e5980c" and s.state == "active"
    assert s.equality_matchers == {"alertname": "DiskAlmostFull"}
    assert s.created_by == "fixture" and s.comment == "maintenance window" and s.ends_at == 1795334055.0
    regex = am.AMSilence("x", "active", ({"name": "a", "value": "b.*", "isRegex": True, "isEqual": True},), "", "", 0, 1)
    assert regex.equality_matchers is None


def test_parse_time_nanoseconds_and_offsets() -> None:
    assert am.parse_time("2026-11-22T06:52:54.935086591Z") == 1795330374.935086  # truncated to microseconds
    assert am.parse_time("2026-11-22T07:52:54+01:00") == 1795330374.0
    with pytest.raises(ParseError):
        am.parse_time("yesterday")


def test_sync_store_mirrors_and_resolves(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        alerts = [am.to_alert(x, "am") for x in am.parse_alerts(load("alertmanager-api-v2-alerts.json"))]
        silences = am.parse_silences(load("alertmanager-api-v2-silences.json"))
        now = 1795330500.0
        am.sync_store(store, "am", alerts, silences, now)
        got = {a.id: a for a in store.alerts(now=now)}
        assert set(got) == {"am-00bdb9e0d7d26b27", "am-22ca3939db15d79f", "am-2b9757ab228e1896"}
        assert got["am-2b9757ab228e1896"].silenced and not got["am-00bdb9e0d7d26b27"].silenced
        [mirror] = store.silences()
        assert (mirror.matchers, mirror.who, mirror.note, mirror.external_id) == (
            {"alertname": "DiskAlmostFull"}, "fixture", "maintenance window", "am/ac6257b5-14fb-4279-9afc-c45777e5980c")
        store.add_escalation("am-22ca3939db15d79f", who="me", from_tier="L2", to_tier="L3", t=now)
        # Next poll: BackupTooOld is gone (resolved) and the silence expired; the escalation sticks.
        am.sync_store(store, "am", [am.to_alert(x, "am") for x in am.parse_alerts(load("alertmanager-api-v2-alerts.json"))[1:]],
                      [], now + 10)
        got = {a.id: a for a in store.alerts(now=now + 10)}
        assert got["am-00bdb9e0d7d26b27"].state == "resolved"
        assert got["am-22ca3939db15d79f"].tier == "L3"
        assert store.silences()[0].expired_at == now + 10
        assert [t.to_state for t in store.transitions(alert_id="am-00bdb9e0d7d26b27")] == ["firing", "resolved"]
    finally:
        store.close()


def test_translate_matchers() -> None:
    alerts = [am.to_alert(x, "am") for x in am.parse_alerts(load("alertmanager-api-v2-alerts.json"))]
    assert am.translate_matchers({"rule": "TargetDown", "target": "127.0.0.1"}, [alerts[1]]) == [
        {"name": "alertname", "value": "TargetDown", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "127.0.0.1:19999", "isRegex": False, "isEqual": True},
    ]
    assert am.translate_matchers({"severity": "warning"}, [alerts[0], alerts[2]]) == [
        {"name": "severity", "value": "warning", "isRegex": False, "isEqual": True}]
    two = am.translate_matchers({"job": "node", "target": "x"}, [alerts[0], alerts[2]])
    assert two[1] == {"name": "instance", "value": "db01:9100|web01:9100", "isRegex": True, "isEqual": True}


# --- metrics out ------------------------------------------------------------------------------------


class _HS:
    """A host's status as metrics out reads it: its state and the host kinds' typed rows."""

    def __init__(self, state, t, patches=None, backups=None, caches=None):
        self.state, self.t = state, t
        self.rows = {}
        if patches is not None:
            self.rows[("patches", "")] = PatchesRow(t, 3600.0, patches)
        for name, b in (backups or {}).items():
            self.rows[("backup", name)] = BackupRow(b, t, 3600.0, 86400.0)
        for name, c in (caches or {}).items():
            self.rows[("cache", name)] = CacheRow(name, c.kind, t, 60.0, c)


class _FakeCollector:
    def __init__(self) -> None:
        self.clock = lambda: 1000.0
        self.jobs = []
        self.endpoints = {}
        self.listeners = []
        self.checks = CheckState()  # no probe kind configured
        rt = RestoreTest(True, 900.0, 1.5)
        self.hosts = {
            'we"b\\1\n': _HS("ok", 1.0, PatchStatus("apt", 3, 1, True),
                             {"etc": BackupStatus("etc", "restic", 400.0, 600.0, 2, restore_test=rt)},
                             {"s": CacheStats("s", "redis", 0.75, 3, 1, 60.0)}),
            "down": _HS("unreachable", 1.0),
            "never": _HS("unknown", None),
        }


def test_render_exact_lines_and_escaping() -> None:
    c = _FakeCollector()
    h = TTFBHistograms()
    h.listener([])
    h.observe("shop", "local", 0.2)
    h.observe("shop", "local", 3.0)
    text = render(c, h, now=1000.0, started=10.0)
    lines = text.splitlines()
    name = 'we\\"b\\\\1\\n'
    for want in (
        f'opsdash_host_up{{host="{name}"}} 1', 'opsdash_host_up{host="down"} 0',
        f'opsdash_patches_pending{{host="{name}"}} 3', f'opsdash_patches_security_pending{{host="{name}"}} 1',
        f'opsdash_reboot_required{{host="{name}"}} 1',
        f'opsdash_backup_age_seconds{{host="{name}",backup="etc"}} 600',
        f'opsdash_backup_last_success_timestamp_seconds{{host="{name}",backup="etc"}} 400',
        f'opsdash_backup_restore_success{{host="{name}",backup="etc"}} 1',
        f'opsdash_backup_restore_age_seconds{{host="{name}",backup="etc"}} 100',
        f'opsdash_backup_restore_duration_seconds{{host="{name}",backup="etc"}} 1.5',
        f'opsdash_cache_hit_ratio{{host="{name}",cache="s"}} 0.75',
        'opsdash_http_ttfb_seconds_bucket{endpoint="shop",vantage="local",le="0.1"} 0',
        'opsdash_http_ttfb_seconds_bucket{endpoint="shop",vantage="local",le="0.25"} 1',
        'opsdash_http_ttfb_seconds_bucket{endpoint="shop",vantage="local",le="5"} 2',
        'opsdash_http_ttfb_seconds_bucket{endpoint="shop",vantage="local",le="+Inf"} 2',
        'opsdash_http_ttfb_seconds_sum{endpoint="shop",vantage="local"} 3.2',
        'opsdash_http_ttfb_seconds_count{endpoint="shop",vantage="local"} 2',
        "# TYPE opsdash_http_ttfb_seconds histogram",
        "opsdash_collector_start_time_seconds 10",
    ):
        assert want in lines, want
    assert not any('host="never"' in x for x in lines)
    if os.path.exists("/usr/bin/promtool"):
        r = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (r.stdout, r.stderr, text)


def test_escape_and_addr() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert parse_addr("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_addr("[::1]:9464") == ("::1", 9464)
    with pytest.raises(ValueError):
        parse_addr("9464x")


async def test_serve_metrics_on_loopback() -> None:
    c = _FakeCollector()
    port = free_port()
    server = await serve_metrics(c, f"127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(f"http://127.0.0.1:{port}/metrics")
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert 'opsdash_host_up{host="down"} 0' in r.text
            assert (await client.get(f"http://127.0.0.1:{port}/nope")).status_code == 404
            assert (await client.post(f"http://127.0.0.1:{port}/metrics")).status_code == 405
    finally:
        server.close()
        await server.wait_closed()
    assert len(c.listeners) == 1
    await asyncio.sleep(0)
