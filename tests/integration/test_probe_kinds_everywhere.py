"""A registered probe kind reaches every place that iterates over the kinds: config,
`once` (JSON, text, exit status), `collect` (store rows, alerts with the row's reason,
/metrics), the handover, and the Latency pane's rows with levels from the rules.

Real parts: a dnslib DNS server and a small shop web app on loopback, the real
`opsdash` processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from opsdash.errors import StoreError
from opsdash.store import Store
from opsdash.ui.data import build_view, load_snapshot
from tests.support.dns_server import Answer, DNSServer
from tests.support.servers import free_port
from tests.support.shop_app import ShopApp, checkout_steps_toml

pytestmark = pytest.mark.integration


def _config(dns: DNSServer, shop: ShopApp, secret: Path) -> str:
    return f'''
[[dns]]
name = "shop-a"
query = "shop.test"
expect = ["203.0.113.10"]
server = "{dns.address}"
interval = "1s"
timeout = "2s"

[[dns]]
name = "gone"
query = "gone.test"
server = "{dns.address}"
interval = "1s"
timeout = "2s"

[[journeys]]
name = "checkout"
interval = "1s"
timeout = "10s"
{checkout_steps_toml(shop, secret)}'''


@pytest.fixture
def world(tmp_path: Path):
    zone = {"shop.test": Answer("A", ["203.0.113.10"]), "gone.test": Answer(rcode="NXDOMAIN")}
    with DNSServer(zone) as dns, ShopApp() as shop:
        secret = tmp_path / "synthetic.pass"
        secret.write_text(shop.password + "\n")
        cfg = tmp_path / "config.toml"
        cfg.write_text(_config(dns, shop, secret))
        shop.broken_checkout = True
        yield cfg, shop


def _opsdash(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opsdash", *args], capture_output=True, text=True, timeout=timeout)


def test_once_reports_every_kind_and_exits_by_their_rules(world, tmp_path: Path) -> None:
    cfg, shop = world
    r = _opsdash("once", "--config", str(cfg), "--format", "json")
    snap = json.loads(r.stdout)
    checks = {(c["kind"], c["name"]): c for c in snap["checks"]}
    assert checks[("dns", "shop-a")]["ok"] is True
    assert checks[("dns", "gone")]["ok"] is False and "NXDOMAIN" in checks[("dns", "gone")]["reason"]
    assert checks[("journey", "checkout")]["reason"] == "checkout: step 3 checkout: status 500"
    assert snap["status"] == "critical" and r.returncode == 2, r.stderr
    summaries = {a["rule"]: a["summary"] for a in snap["alerts"]}
    assert "NXDOMAIN" in summaries["dns-failed"] and "gone" in summaries["dns-failed"]
    assert "step 3 checkout: status 500" in summaries["journey-failed"]
    assert shop.password not in r.stdout

    text = _opsdash("once", "--config", str(cfg), "--probe", "dns")
    assert "CHECKS" in text.stdout and "dns gone@local" in text.stdout and "journey" not in text.stdout


def test_collect_stores_rows_fires_alerts_and_exports_metrics(world, tmp_path: Path) -> None:
    cfg, shop = world
    store_path = tmp_path / "store.sqlite"
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store_path),
                          "--metrics-listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        firing: set[str] = set()
        while time.monotonic() < deadline and not {"dns-failed", "journey-failed"} <= firing:
            time.sleep(0.5)
            try:
                with Store(store_path, readonly=True) as s:
                    firing = {a.rule for a in s.alerts() if a.state == "firing"}
            except StoreError:  # not there yet, or the collector is still creating its schema
                continue
        assert {"dns-failed", "journey-failed"} <= firing
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'opsdash_dns_up{check="shop-a",vantage="local"} 1' in metrics
        assert 'opsdash_dns_up{check="gone",vantage="local"} 0' in metrics
        assert 'opsdash_journey_up{check="checkout",vantage="local"} 0' in metrics
        assert "# HELP opsdash_dns_resolve_p95_ms" in metrics
    finally:
        p.terminate()
        out, err = p.communicate(timeout=15)
    assert p.returncode == 0 and "Traceback" not in err, err

    with Store(store_path, readonly=True) as s:
        alerts = {a.rule: a for a in s.alerts() if a.state == "firing"}
        assert "NXDOMAIN" in alerts["dns-failed"].summary
        view = build_view(load_snapshot(s, time.time()))
    rows = {r.key: r for r in view.rows["latency"]}
    assert rows["dns:shop-a:local"].cells[0][0] == "● ok"
    assert rows["dns:gone:local"].cells[0][0].endswith("NXDOMAIN") and rows["dns:gone:local"].cells[0][1] == "crit"
    assert rows["journey:checkout:local"].cells[0][1] == "crit"
    # worst first: the failing checks sort above the working one
    keys = [r.key for r in view.rows["latency"]]
    assert keys.index("dns:gone:local") < keys.index("dns:shop-a:local")

    h = _opsdash("handover", "--config", str(cfg), "--store", str(store_path))
    assert h.returncode == 0, h.stderr
    assert "Checks failing" in h.stdout and "NXDOMAIN" in h.stdout and "step 3 checkout" in h.stdout
    assert shop.password not in h.stdout


def test_a_bad_key_of_a_kind_is_one_line_with_its_path(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[dns]]\nname = "a"\nquery = "x.test"\ntpye = "A"\n')
    r = _opsdash("check-config", "--config", str(cfg))
    assert r.returncode == 3
    line = next(ln for ln in r.stderr.splitlines() if "tpye" in ln)
    assert "dns[0].tpye" in line and 'did you mean "type"' in line and ":4:" in line
