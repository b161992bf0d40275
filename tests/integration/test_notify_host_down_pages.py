"""A host goes down and comes back, and the page reaches people: the real sshd of the host
is stopped and started again; the collector (in-process, real SSH) pages through a real
Alertmanager (the Debian prometheus-alertmanager binary) routing to a loopback webhook
receiver, a direct webhook, and email to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from opsdash.alerts.engine import engine_for
from opsdash.collect.collector import Collector
from opsdash.config import load_config
from opsdash.notify import notifier_for
from opsdash.store import Store
from tests.support.notify_receivers import SmtpReceiver, WebhookReceiver
from tests.support.sshd import SSHD, free_port, start_sshd, wait_port

pytestmark = pytest.mark.integration

AM_BIN = "/usr/bin/prometheus-alertmanager"
FOR_S = 2.0
AM_RESOLVE_TIMEOUT = 4  # Alertmanager resolves an alert not re-posted for this long


def _restart_sshd(s) -> None:
    log = open(s.dir / "sshd.log", "ab")
    s.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(s.dir / "sshd_config")], stdout=subprocess.DEVNULL,
                              stderr=log, start_new_session=True)
    log.close()
    s.pid = s.proc.pid
    wait_port(s.port)


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _stop_sshd(s) -> None:
    """The host goes down: its sshd and every connection it serves (all started by this test)."""
    for pid in [s.pid, *_descendants(s.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    s.proc.wait(10)


async def _wait(what: str, fn, timeout: float, why=lambda: "") -> float:
    """Seconds until fn() is true (polled), or fail naming what never came (and ``why()``)."""
    t0 = time.monotonic()
    while not fn():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"no {what} within {timeout:g}s; {why()}")
        await asyncio.sleep(0.1)
    return time.monotonic() - t0


def _has(rec: WebhookReceiver, status: str) -> bool:
    return any(a["labels"].get("alertname") == "host-down" and a["labels"].get("target") == "db-1"
               for a in rec.alerts(status))


@pytest.fixture
def alertmanager(tmp_path: Path):
    if not os.path.exists(AM_BIN) or not shutil.which("ssh-keygen") or not os.path.exists(SSHD):
        pytest.skip("needs prometheus-alertmanager and openssh-server (Debian packages; .ci/run installs them)")
    rec = WebhookReceiver().start()
    port = free_port()
    root = tmp_path / "am"
    root.mkdir()
    (root / "alertmanager.yml").write_text(f"""
global:
  resolve_timeout: {AM_RESOLVE_TIMEOUT}s
route:
  receiver: hook
  group_by: ['alertname', 'target']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: '{rec.url}'
        send_resolved: true
""")
    log = open(root / "am.log", "wb")
    proc = subprocess.Popen([AM_BIN, f"--config.file={root / 'alertmanager.yml'}", f"--storage.path={root / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (root / "am.log").read_text()[-2000:]
            time.sleep(0.2)
        yield url, rec
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        rec.stop()


@pytest.fixture
def host_sshd(tmp_path: Path):
    """The host's own sshd (not the session's: this test stops it), stopped by PID at the end."""
    s = start_sshd(tmp_path / "sshd")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def hook():
    rec = WebhookReceiver().start()
    try:
        yield rec
    finally:
        rec.stop()


@pytest.fixture
def smtp():
    server = SmtpReceiver().start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_host_down_pages_alertmanager_webhook_and_email_and_each_gets_the_resolve(
        tmp_path: Path, alertmanager, host_sshd, hook: WebhookReceiver, smtp: SmtpReceiver) -> None:
    am_url, am_rec = alertmanager
    sshd = host_sshd
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(sshd.host_toml("db-1", interval="1s", timeout="2s") + f"""
tags = {{ role = "db" }}

[[rules]]
name = "host-down"
metric = "host.up"
op = "<"
crit = 0.5
attempts = 2
for = "{FOR_S:g}s"

[[notify]]
name = "am"
kind = "alertmanager"
url = "{am_url}"
resend = "2s"

[[notify]]
name = "hook"
kind = "webhook"
url = "{hook.url}"
group_window = "1s"
match = {{ role = "db" }}

[[notify]]
name = "mail"
kind = "email"
smtp = "127.0.0.1:{smtp.port}"
from = "opsdash@example.com"
to = ["oncall@example.com"]
starttls = false
group_window = "1s"
""")
    cfg = load_config(cfg_path)
    store = Store(tmp_path / "s.sqlite")
    collector = Collector(cfg, store, alert_engine=engine_for(cfg, store), notifier=notifier_for(cfg, store),
                          run_restore_tests=False)
    task = asyncio.create_task(collector.run())

    def why() -> str:
        return (f"host {collector.hosts['db-1'].state}, alerts {[(a.rule, a.state) for a in store.alerts()]}, "
                f"outbox {store.notify_counts()}, last error {collector.last_error}, "
                f"unsent {[(r.target, r.event, r.last_error) for r in store.notifications(unsent_only=True)]}")

    try:
        await _wait("first good poll", lambda: collector.hosts["db-1"].state == "ok", 20)
        _stop_sshd(sshd)
        down = time.monotonic()
        await _wait("firing alert at Alertmanager's receiver", lambda: _has(am_rec, "firing"), FOR_S + 30, why)
        fired_after = time.monotonic() - down
        await _wait("firing at the direct webhook", lambda: _has(hook, "firing"), 10)
        await _wait("the firing email", lambda: smtp.messages, 10)
        _restart_sshd(sshd)
        back = time.monotonic()
        await _wait("resolve at Alertmanager's receiver", lambda: _has(am_rec, "resolved"), 30)
        resolved_after = time.monotonic() - back
        await _wait("resolve at the direct webhook", lambda: _has(hook, "resolved"), 10)
        await _wait("the resolve email", lambda: len(smtp.messages) >= 2, 10)
    finally:
        collector.stop()
        await asyncio.wait_for(task, 15)
        store.close()
    assert fired_after <= FOR_S + 30 and resolved_after <= 30
    print(f"\nAlertmanager's receiver: firing {fired_after:.1f}s after sshd stopped, "
          f"resolved {resolved_after:.1f}s after it came back")

    a = next(a for a in am_rec.alerts("firing") if a["labels"]["alertname"] == "host-down")
    assert a["labels"]["target"] == "db-1" and a["labels"]["severity"] == "critical"
    assert a["labels"]["tier"] == "L2" and a["labels"]["role"] == "db"
    assert a["annotations"]["summary"] and a["annotations"]["runbook_url"] and a["annotations"]["description"]

    bodies = hook.snapshot()
    assert [b["status"] for b in bodies] == ["firing", "resolved"]
    assert all(b["version"] == "4" and b["notificationId"] for b in bodies)

    fire_mail, resolve_mail = smtp.messages[:2]
    assert "FIRING" in fire_mail["Subject"] and "host-down" in fire_mail["Subject"] and "db-1" in fire_mail["Subject"]
    body = fire_mail.get_payload(decode=True).decode()
    assert "### Symptoms" in body and "runbook" in body.lower()  # the escalation packet
    assert fire_mail["Message-ID"].startswith("<") and "notification id:" in body
    assert "RESOLVED" in resolve_mail["Subject"]


async def test_alertmanager_keeps_a_firing_alert_because_it_is_re_posted(tmp_path: Path, alertmanager) -> None:
    """Alertmanager resolves an alert nobody re-posts within its resolve_timeout; opsdash
    re-posts every `resend` while the alert fires, so it stays active; once opsdash stops
    re-posting, Alertmanager times it out."""
    from opsdash.alerts.engine import engine_for as engine_of
    from opsdash.config import parse_config
    from opsdash.model import Sample
    from opsdash.notify import Notifier

    am_url, _rec = alertmanager
    cfg = parse_config(f"""
[[hosts]]
name = "web-1"
[[rules]]
name = "disk"
metric = "host.disk_percent"
warn = 85
for = "0s"
[[notify]]
name = "am"
kind = "alertmanager"
url = "{am_url}"
resend = "1s"
""")

    def active() -> list:
        doc = httpx.get(am_url + "/api/v2/alerts", timeout=5).json()
        return [a for a in doc if a["labels"].get("alertname") == "disk" and a["status"]["state"] == "active"]

    with Store(tmp_path / "s.sqlite") as store:
        engine = engine_of(cfg, store)
        n = Notifier(cfg, store)
        engine.observe([Sample(time.time(), "web-1", "host.disk_percent", 90.0, {"mount": "/"})])
        n.reconcile()
        stop = asyncio.Event()
        task = asyncio.create_task(n.run(stop))
        try:
            await _wait("the alert active in Alertmanager", active, 10)
            await asyncio.sleep(AM_RESOLVE_TIMEOUT * 2)  # twice its resolve_timeout
            assert active(), "re-posting should have kept it active"
            (a,) = active()
            assert a["labels"]["target"] == "web-1" and a["labels"]["tier"] == "L1"
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
        await _wait("Alertmanager to time it out once nobody re-posts", lambda: not active(), AM_RESOLVE_TIMEOUT + 6)
