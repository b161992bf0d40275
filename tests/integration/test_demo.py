"""`opsdash demo`: the story as pure functions, the fleet through the real probes,
and the headless demo filling the store. Every process is stopped by PID."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsdash.collect.health import parse_health_output
from opsdash.commands.demo import start_fleet, stop_fleet, wait_ready
from opsdash.config import load_config
from opsdash.demo import render, story
from opsdash.demo.config import make_keys, write_config
from opsdash.parsers.apt import parse_apt_get_simulate
from opsdash.parsers.memcached import parse_memcached_stats
from opsdash.parsers.redis import parse_redis_info
from opsdash.parsers.restic import parse_restore_verify, parse_snapshots_json
from opsdash.stats import percentile
from opsdash.store import Store


def _host(name: str) -> story.Host:
    return next(h for h in story.fleet(12) if h.name == name)


def _wall(s: float) -> float:
    return 1_795_000_000.0 + s


# --- the story, time-compressed: t = 0 against t = 600 s ---------------------------------


def test_story_disk_fills_and_restore_fails_within_ten_minutes() -> None:
    db2 = _host(story.DISK_HOST)
    disk = next(d for d in db2.disks if d.mount == story.DISK_MOUNT)
    assert story.disk_percent(db2, disk, 0) < 75
    assert story.disk_percent(db2, disk, 600) > 95
    b1 = _host(story.RESTORE_HOST)
    job = b1.backups[0]
    assert story.restore_ok(b1, job, 0) and not story.restore_ok(b1, job, 600)
    # ... as restic says it, read by the real parser
    st = story.snapshots(b1, job, 600)[-1]
    for t, ok in ((0, True), (600, False)):
        rc, out, err = render.restic_restore(b1, job, st, t, _wall)
        assert parse_restore_verify(out + err, rc).ok is ok


def test_story_host_goes_down_and_comes_back_rebooted() -> None:
    name = story.DOWN_HOST
    assert story.host_up(name, 0) and not story.host_up(name, 300) and story.host_up(name, 600)
    h = _host(name)
    text = render.health(h, 600)
    assert parse_health_output(text, None, 0).health.uptime_s == pytest.approx(600 - story.DOWN_UNTIL, abs=1)
    assert all(story.host_up(other.name, 300) for other in story.fleet(12) if other.name != name)


def _p95(name: str, t_end: float, window: float = 120.0) -> float:
    return percentile([story.endpoint_latency_ms(name, t_end - window + k * 5.0) for k in range(int(window / 5))], 95)


def test_story_latency_creeps_past_the_warning() -> None:
    assert _p95(story.SLOW_ENDPOINT, 120) < 300
    assert _p95(story.SLOW_ENDPOINT, 600) > 400
    assert _p95(story.SLOW_ENDPOINT, 600) < 800  # a warning, not a critical
    for quiet in ("shop-home", "images", "login"):
        assert _p95(quiet, 600) < 400


def test_story_cache_hit_rate_drops() -> None:
    h = _host(story.CACHE_HOST)
    c = h.caches[0]

    def rate(t0: float, t1: float) -> float:
        (h0, m0, *_), (h1, m1, *_) = story.cache_counters(h, c, t0), story.cache_counters(h, c, t1)
        return (h1 - h0) / ((h1 - h0) + (m1 - m0))

    assert rate(0, 120) > 0.9
    assert rate(480, 600) < 0.6
    # counters only grow, across the whole cycle and the next
    series = [story.cache_counters(h, c, t)[0] for t in range(0, 2000, 7)]
    assert series == sorted(series)
    # the parser reads what the fleet prints
    assert parse_redis_info(render.redis_info(h, c, 600)).hits == story.cache_counters(h, c, 600)[0]
    mc = _host("cache-2")
    assert parse_memcached_stats(render.memcached_stats(mc, mc.caches[0], 600)).misses > 0


def test_story_flapping_endpoint_never_down_for_30s_and_under_the_error_rate_rule() -> None:
    name = story.FLAPPING_ENDPOINT
    up = [story.endpoint_status(name, t * 5.0 + 1) == 200 for t in range(120)]  # 5 s polls over 10 min
    assert 0 < up.count(False) < len(up) / 4
    longest = max(len(run) for run in "".join("x" if not u else " " for u in up).split())
    assert longest * 5 < 30  # the `for = "30s"` of endpoint-down never completes
    window = 24  # 2 minutes of 5 s polls
    worst = max(up[i:i + window].count(False) / window for i in range(len(up) - window))
    assert worst < 0.25  # error-rate's demo threshold


def test_story_patches_and_the_markup_package() -> None:
    web1 = _host(story.PATCHED_HOST)
    assert story.patches(web1, 0).packages and not story.patches(web1, 600).packages
    assert story.patches(_host(story.REBOOT_HOST), 0).reboot_required
    sim = parse_apt_get_simulate(render.apt_simulate(_host(story.MARKUP_HOST), 0))
    assert any(p.name == story.MARKUP_PACKAGE for p in sim.packages)
    assert sim.security > 0
    assert parse_apt_get_simulate(render.apt_simulate(web1, 600)).pending == 0


def test_story_snapshots_parse_and_renew() -> None:
    h = _host("backup-2")
    b = h.backups[0]
    snaps = parse_snapshots_json(render.restic_snapshots(h, b, 600, _wall))
    assert len(snaps) == 12 and _wall(600) - snaps[-1].time <= b.every


def test_fleet_scales_to_a_thousand_unique_hosts() -> None:
    hosts = story.fleet(1000)
    assert len({h.name for h in hosts}) == 1000
    assert [h.name for h in hosts[:12]] == [h.name for h in story.fleet(12)]


# --- the fleet process, reached through the real probes ----------------------------------


def _opsdash(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsdash", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OPSDASH_CONFIG": "/nonexistent"})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


@pytest.fixture
def fleet_at(tmp_path: Path):
    procs = []

    def start(at: float = 0.0, hosts: int = 12) -> Path:
        d = tmp_path / f"demo-{len(procs)}"
        make_keys(d)
        proc = start_fleet(d, hosts, start=at)
        procs.append(proc)
        write_config(d, wait_ready(d, proc))
        return d / "config.toml"

    yield start
    for proc in procs:
        stop_fleet(proc)
        assert proc.poll() is not None and not _alive(proc.pid)


@pytest.mark.integration
def test_once_against_the_fleet_fills_every_section(fleet_at) -> None:
    cfg = fleet_at(0.0)
    r = _opsdash("once", "--format", "json", "--config", str(cfg), "--run-restore-tests")
    assert r.returncode in (0, 1, 2), r.stderr
    snap = json.loads(r.stdout)
    hosts = {h["name"]: h for h in snap["hosts"]}
    assert len(hosts) == 12
    assert {h["state"] for h in hosts.values()} == {"ok"}, [h["error"] for h in hosts.values() if h["error"]]
    for h in hosts.values():
        hl = h["health"]
        assert 0 <= hl["cpu_percent"] <= 100 and 0 < hl["mem_percent"] < 100 and hl["cpus"] >= 2
        assert hl["disks"] and hl["uptime_s"] > 86400
        assert h["patches"]["manager"] == "apt" and h["patches"]["pending"] > 0
        assert h["tags"]["region"] in story.REGIONS
    assert hosts["db-1"]["patches"]["reboot_required"] is True
    assert story.MARKUP_PACKAGE in {p["name"] for p in hosts["web-2"]["patches"]["packages"]}
    caches = {c["name"]: c for h in hosts.values() for c in (h["caches"] or [])}
    assert caches["sessions"]["hit_rate"] > 0.9 and caches["fragments"]["hits"] > 0
    backups = {b["name"]: b for h in hosts.values() for b in (h["backups"] or [])}
    assert set(backups) == {"db-dump", "etc", "wal-archive"}
    for b in backups.values():
        assert b["snapshots"] == 12 and b["age_s"] < 200
        assert b["restore_test"]["ok"] is True, b["restore_test"]["detail"]
        assert b["restore_test"]["checksum_verified"] is True
    eps = {(e["name"], e["vantage"]): e for e in snap["endpoints"]}
    assert len(eps) == 8  # six endpoints, two of them also from a remote vantage (curl over SSH)
    for (name, vantage), e in eps.items():
        assert e["ttfb_ms"] and e["ttfb_ms"] > 0, (name, vantage, e.get("error"))
        assert e["status"] in (200, 503)
    assert eps[("shop-home", "web-1")]["cache"] in ("HIT", "MISS")
    assert eps[("checkout", "local")]["cache"] is None


@pytest.mark.integration
def test_once_sees_the_story_later_on(fleet_at) -> None:
    cfg = fleet_at(story.DOWN_FROM + 20)  # web-3 down, db-2's disk at 84 %
    r = _opsdash("once", "--format", "json", "--config", str(cfg), "--probe", "health")
    snap = json.loads(r.stdout)
    hosts = {h["name"]: h for h in snap["hosts"]}
    assert hosts[story.DOWN_HOST]["state"] in ("unreachable", "error"), hosts[story.DOWN_HOST]
    assert hosts[story.DOWN_HOST]["error"]
    assert {h["state"] for n, h in hosts.items() if n != story.DOWN_HOST} == {"ok"}
    disk = next(d for d in hosts[story.DISK_HOST]["health"]["disks"] if d["mount"] == story.DISK_MOUNT)
    assert disk["percent"] > 80
    assert r.returncode == 2  # host-down is critical


def test_demo_config_is_valid(tmp_path: Path) -> None:
    make_keys(tmp_path)
    cfg = load_config(write_config(tmp_path, {"ssh_port": 2222, "http_port": 8080, "hosts": 500}))
    assert len(cfg.hosts) == 500 and len(cfg.endpoints) == 6
    assert {r.name for r in cfg.rules} >= {"endpoint-down", "disk", "ttfb-p95"}
    assert (tmp_path / "known_hosts").read_text().startswith("[127.0.0.1]:2222 ssh-ed25519 ")


# What every pane reads from the store.
PANE_METRICS = {
    "host.up", "host.cpu_percent", "host.mem_percent", "host.disk_percent", "host.uptime_s",  # Health
    "endpoint.up", "endpoint.ttfb_ms", "endpoint.ttfb_p95_ms", "endpoint.error_rate",  # Latency
    "cache.hit_rate", "cache.ops_per_s",  # Cache
    "patches.pending", "patches.security", "patches.reboot_required",  # Patches
    "backup.age_s", "backup.restore_ok", "backup.restore_duration_s",  # Backups
}


def _store_has_every_pane(store_path: Path) -> bool:
    if not store_path.exists():
        return False
    try:
        with Store(store_path, readonly=True) as store:
            metrics = {m for _t, m, _l in store.series()}
            alerts = store.alerts()
    except Exception:
        return False  # being created by the demo right now
    return PANE_METRICS <= metrics and any(a.rule == "reboot-required" and a.target == story.REBOOT_HOST for a in alerts)


@pytest.mark.integration
def test_headless_demo_fills_the_store_for_every_pane(tmp_path: Path) -> None:
    store_path = tmp_path / "demo.sqlite"
    # The headless demo is stopped (SIGTERM, as a terminal's Ctrl+C or a service manager would)
    # as soon as its store holds what every pane shows; --duration only bounds a failing run.
    # (--duration's own stop is tested with a short demo in tests/ui/test_ui_units_and_widths.py.)
    proc = subprocess.Popen([sys.executable, "-m", "opsdash", "demo", "--headless", "--duration", "60s",
                             "--store", str(store_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OPSDASH_CONFIG": "/nonexistent"})
    try:
        deadline = time.monotonic() + 90
        while proc.poll() is None and time.monotonic() < deadline and not _store_has_every_pane(store_path):
            time.sleep(0.5)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    pid = int(re.search(r"fleet pid (\d+)", err).group(1))
    assert not _alive(pid)
    with Store(store_path, readonly=True) as store:
        metrics = {m for _t, m, _l in store.series()}
        alerts = store.alerts()
    assert PANE_METRICS <= metrics, PANE_METRICS - metrics
    assert any(a.rule == "reboot-required" and a.target == story.REBOOT_HOST for a in alerts)  # Alerts
