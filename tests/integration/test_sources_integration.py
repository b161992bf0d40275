"""Issue 7, end to end: real Debian prometheus, prometheus-node-exporter and
prometheus-alertmanager on loopback, and opsdash as both their client and a
scrape target.

The stack is started once for the module (Prometheus takes a few seconds to
become ready) with a 1 s scrape and evaluation interval and a rule that fires
at once (``vector(1) > 0``, ``for: 0s``). Every process is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from opsdash.store import Store
from tests.support import REPO
from tests.support.source_stack import BINARIES, Stack, get_json, wait_for
from tests.support.sshd import free_port

pytestmark = pytest.mark.integration

ROOT = REPO
SUMMARY = "Always firing \x1b[31m[red]<b> {{ 1 }}"  # untrusted text, stored raw
RUNBOOK = "https://wiki.example.invalid/runbooks/always"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    missing = [p for p in BINARIES.values() if not os.path.exists(p)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (Debian packages prometheus, "
                    "prometheus-node-exporter, prometheus-alertmanager)")
    root = tmp_path_factory.mktemp("promstack")
    s = Stack(root)
    (root / "alertmanager.yml").write_text(
        "route:\n  receiver: 'null'\n  group_by: ['alertname']\n  group_wait: 0s\n  group_interval: 1s\n"
        "  repeat_interval: 1h\nreceivers:\n  - name: 'null'\n"
    )
    (root / "rules.yml").write_text(
        "groups:\n  - name: opsdash-test\n    interval: 1s\n    rules:\n"
        "      - alert: OpsdashTestAlways\n        expr: vector(1) > 0\n        for: 0s\n"
        f"        labels:\n          severity: critical\n          instance: '{s.node_instance}'\n"
        f"        annotations:\n          summary: {json.dumps(SUMMARY)}\n          runbook_url: '{RUNBOOK}'\n"
    )
    (root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{s.am_port}']\n"
        f"rule_files:\n  - {root / 'rules.yml'}\n"
        "scrape_configs:\n"
        f"  - job_name: node\n    static_configs:\n      - targets: ['{s.node_instance}']\n"
        "        labels:\n          rack: r1\n"
        f"  - job_name: opsdash\n    static_configs:\n      - targets: ['127.0.0.1:{s.metrics_port}']\n"
    )
    try:
        s.start("node_exporter", [
            BINARIES["node_exporter"], f"--web.listen-address=127.0.0.1:{s.node_port}",
            "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo", "--collector.filesystem",
            "--collector.loadavg", "--collector.stat", "--collector.time", "--collector.uname",
        ])
        s.start("alertmanager", [
            BINARIES["alertmanager"], f"--config.file={root / 'alertmanager.yml'}",
            f"--storage.path={root / 'am-data'}", f"--web.listen-address=127.0.0.1:{s.am_port}",
            "--cluster.listen-address=",
        ])
        s.start("prometheus", [
            BINARIES["prometheus"], f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'prom-data'}", f"--web.listen-address=127.0.0.1:{s.prom_port}",
            # The first send of the firing alert can precede the notifier's discovery of
            # Alertmanager and be dropped; the default 1m resend delay then made this
            # fixture wait ~55 s for the alert. 1 s resends it at once.
            "--rules.alert.resend-delay=1s",
        ])
        wait_for("prometheus ready", lambda: httpx.get(s.prom + "/-/ready", timeout=5).status_code == 200)
        wait_for("alertmanager ready", lambda: httpx.get(s.am + "/-/ready", timeout=5).status_code == 200)
        # CPU % is a rate: it needs two scrapes of the node exporter.
        wait_for("node_exporter CPU rate in Prometheus", lambda: get_json(
            s.prom + "/api/v1/query", query=f'rate(node_cpu_seconds_total{{instance="{s.node_instance}"}}[1m])'
        )["data"]["result"])
        wait_for("the test alert in Alertmanager", lambda: [
            a for a in get_json(s.am + "/api/v2/alerts") if a["labels"].get("alertname") == "OpsdashTestAlways"
        ])
    except BaseException:
        s.stop()
        print({n: s.log(n) for n in ("prometheus", "alertmanager", "node_exporter")}, file=sys.stderr)
        raise
    yield s
    s.stop()


def write_config(stack: Stack, path: Path, down_port: int) -> Path:
    path.write_text(f"""
[defaults]
interval = "2s"
timeout = "5s"

[[hosts]]
name = "node1"                 # the node exporter's host: matched by address
address = "127.0.0.1"
probes = []
tags = {{ role = "test" }}

[[hosts]]
name = "collector-box"
probes = ["local"]

  [[hosts.backups]]
  name = "etc"
  kind = "command"
  command = "echo restore ok"
  interval = "1h"
  restore_test = {{ every = "24h", timeout = "60s" }}

[[sources]]
kind = "prometheus"
name = "prom"
url = "{stack.prom}"
interval = "2s"
timeout = "10s"
match = {{ job = "node" }}

[[sources]]
kind = "alertmanager"
name = "am"
url = "{stack.am}"
interval = "2s"
timeout = "10s"

[[rules]]                       # matches a Prometheus target label, not a config tag
name = "rack-r1-mem"
metric = "host.mem_percent"
match = {{ rack = "r1" }}
warn = 0

[[sources]]
kind = "prometheus"
name = "gone"
url = "http://127.0.0.1:{down_port}"
interval = "2s"
timeout = "3s"
""")
    return path


def opsdash(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsdash", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "OPSDASH_CONFIG": "/nonexistent"})


def meminfo_percent() -> float:
    kv = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, _, v = line.partition(":")
        kv[k] = int(v.split()[0])
    return 100.0 * (kv["MemTotal"] - kv["MemAvailable"]) / kv["MemTotal"]


def test_once_shows_node_exporter_host_and_alertmanager_alert(stack: Stack, tmp_path: Path) -> None:
    cfg = write_config(stack, tmp_path / "config.toml", free_port())
    r = opsdash("once", "--format", "json", "--config", str(cfg), "--store", str(tmp_path / "s.db"))
    assert r.returncode in (0, 1, 2), r.stderr
    snap = json.loads(r.stdout)
    hosts = {h["name"]: h for h in snap["hosts"]}
    # One row for the node exporter's host: the configured "node1" (address 127.0.0.1).
    assert "127.0.0.1" not in hosts and stack.node_instance not in hosts
    node = hosts["node1"]
    assert node["state"] == "ok", node
    assert node["tags"]["role"] == "test" and node["tags"]["job"] == "node" and node["tags"]["rack"] == "r1"
    hl = node["health"]
    assert hl["cpus"] == os.cpu_count()
    assert 0.0 <= hl["cpu_percent"] <= 100.0
    assert abs(hl["mem_percent"] - meminfo_percent()) < 5
    assert any(d["mount"] == "/" for d in hl["disks"]), hl["disks"]
    assert hl["uptime_s"] > 0 and hl["load1"] >= 0
    alerts = [a for a in snap["alerts"] if a["rule"] == "OpsdashTestAlways"]
    assert len(alerts) == 1, snap["alerts"]
    a = alerts[0]
    assert a["state"] == "firing" and a["severity"] == "critical" and a["source"] == "alertmanager:am"
    assert a["target"] == "node1"
    assert a["summary"] == SUMMARY.replace("{{ 1 }}", "1")  # raw, not escaped
    assert a["runbook"] == RUNBOOK


def test_collect_store_silence_and_metrics_scraped(stack: Stack, tmp_path: Path) -> None:
    from opsdash.alerts.queue import silence, unsilence
    from opsdash.collect.alertmanager import expire_silence_sync, push_silence_sync
    from opsdash.config import load_config

    down_port = free_port()
    cfg_path = write_config(stack, tmp_path / "config.toml", down_port)
    store_path = tmp_path / "store.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg_path), "--store", str(store_path),
         "--metrics-listen", f"127.0.0.1:{stack.metrics_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "OPSDASH_CONFIG": "/nonexistent"},
    )
    try:
        wait_for("the store", lambda: store_path.exists())
        store = Store(store_path)
        try:
            _check_store_and_silence(stack, store, load_config(cfg_path), silence, unsilence,
                                     push_silence_sync, expire_silence_sync)
            _check_metrics(stack, store)
        finally:
            store.close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


def _check_store_and_silence(stack, store, config, silence, unsilence, push, expire) -> None:
    # Health pane rows: node1 from Prometheus, with health.
    def node_row():
        rows = [r for r in store.latest("host") if r["target"] == "node1"]
        return rows and rows[0]["data"]["health"] and rows[0]["data"]
    row = wait_for("node1's health row", node_row)
    assert row["state"] == "ok" and row["health"]["cpus"] == os.cpu_count()
    assert "prometheus" in row["probes"] and row["tags"]["job"] == "node"
    assert not [r for r in store.latest("host") if r["target"] in ("127.0.0.1", stack.node_instance)]
    # A rule's `match` sees the Prometheus target's labels (rack = "r1" from the scrape config).
    rack = wait_for("the rack-r1 rule firing for node1", lambda: [
        a for a in store.alerts() if a.rule == "rack-r1-mem" and a.state == "firing"])
    assert [a.target for a in rack] == ["node1"] and rack[0].labels.get("rack") == "r1"
    # A source that is down is a visible state, not a frozen pane.
    gone = wait_for("the down source's row", lambda: [r["data"] for r in store.latest("source") if r["target"] == "gone"])
    assert gone[0]["state"] == "unreachable" and gone[0]["error"], gone
    ok = [r["data"] for r in store.latest("source") if r["target"] in ("prom", "am")]
    wait_for("both live sources ok", lambda: len([r for r in store.latest("source")
                                                  if r["target"] in ("prom", "am") and r["data"]["state"] == "ok"]) == 2)
    assert all("password" not in json.dumps(r) for r in ok)
    # The alert queue: the Alertmanager alert, labelled as such.
    alert = wait_for("the Alertmanager alert in the store", lambda: [
        a for a in store.alerts() if a.rule == "OpsdashTestAlways" and a.state == "firing"])[0]
    assert alert.source == "alertmanager:am" and alert.id.startswith("am-") and alert.target == "node1"
    assert alert.runbook == RUNBOOK and "\x1b[31m" in alert.summary  # stored raw; viewers escape
    # A silence made in opsdash appears in Alertmanager, and expires there.
    sid = silence(store, {"rule": "OpsdashTestAlways", "target": "node1"}, 600, note="looking into it", who="tester")
    result = push(store, config, sid)
    am_id = result.get("am")
    assert am_id and not am_id.startswith("error"), result
    local = next(s for s in store.silences() if s.id == sid)
    assert local.external_id == f"am/{am_id}"
    sil = next(s for s in get_json(stack.am + "/api/v2/silences") if s["id"] == am_id)
    assert sil["status"]["state"] == "active" and sil["createdBy"] == "tester"
    assert {(m["name"], m["value"], m["isRegex"]) for m in sil["matchers"]} == {
        ("alertname", "OpsdashTestAlways", False), ("instance", stack.node_instance, False)}
    wait_for("the alert suppressed in Alertmanager", lambda: [
        a for a in get_json(stack.am + "/api/v2/alerts") if a["labels"]["alertname"] == "OpsdashTestAlways"
        and am_id in a["status"]["silencedBy"]])
    wait_for("the alert silenced in the store", lambda: [
        a for a in store.alerts() if a.rule == "OpsdashTestAlways" and a.silenced])
    # The collector's mirror must not duplicate opsdash's own silence.
    time.sleep(3)
    assert [s.id for s in store.silences() if s.external_id and am_id in s.external_id] == [sid]
    assert unsilence(store, sid)
    assert expire(store, config, sid) == {"am": "expired"}
    sil = next(s for s in get_json(stack.am + "/api/v2/silences") if s["id"] == am_id)
    assert sil["status"]["state"] == "expired"


def _check_metrics(stack, store) -> None:
    # Prometheus scrapes opsdash's /metrics without errors.
    def target_up():
        ts = get_json(stack.prom + "/api/v1/targets")["data"]["activeTargets"]
        t = [x for x in ts if x["labels"]["job"] == "opsdash"]
        return t and t[0]["health"] == "up" and t[0]["lastError"] == "" and t[0]
    wait_for("Prometheus scraping opsdash", target_up)
    # The restore test's figures, as opsdash shows them and as PromQL returns them.
    backup = wait_for("the restore test in the store", lambda: [
        r["data"] for r in store.latest("backup") if r["target"] == "collector-box" and r["data"]["restore_test"]])[0]
    assert backup["restore_test"]["ok"] is True

    def promql(q: str) -> list:
        return get_json(stack.prom + "/api/v1/query", query=q)["data"]["result"]
    dur = wait_for("opsdash_backup_restore_duration_seconds in Prometheus", lambda: promql(
        'opsdash_backup_restore_duration_seconds{host="collector-box",backup="etc"}'))
    assert float(dur[0]["value"][1]) == backup["restore_test"]["duration_s"]
    ok = promql('opsdash_backup_restore_success{host="collector-box",backup="etc"}')
    assert float(ok[0]["value"][1]) == 1.0
    up = wait_for("opsdash_host_up for node1", lambda: promql('opsdash_host_up{host="node1"}'))
    assert float(up[0]["value"][1]) == 1.0
    src = wait_for("opsdash_source_up", lambda: promql("opsdash_source_up"))
    assert {s["metric"]["source"]: float(s["value"][1]) for s in src} == {"prom": 1.0, "am": 1.0, "gone": 0.0}
    polls = promql('sum(opsdash_polls_total{kind="source"})')
    assert float(polls[0]["value"][1]) > 0
    # promtool agrees with the exposition format and the naming conventions.
    text = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/metrics", timeout=10).text
    assert "opsdash_backup_restore_duration_seconds" in text
    r = subprocess.run([BINARIES["promtool"], "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (r.stdout, r.stderr)

