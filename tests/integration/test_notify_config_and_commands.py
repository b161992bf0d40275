"""[[notify]] in the config (one line per mistake), `opsdash notify status` (text and JSON,
secrets never shown) and `opsdash init --systemd` (a hardened unit with resolved paths,
checked by systemd-analyze where it exists)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsdash.cli import main
from opsdash.config import parse_config
from opsdash.errors import ConfigError
from opsdash.notify import Notifier
from opsdash.store import NotifyEvent, Store
from tests.support.sshd import free_port

GOOD = """
[[notify]]
name = "am"
kind = "alertmanager"
url = "http://127.0.0.1:9093"
match = { severity = "critical" }

[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:8080/hook"
headers = { Authorization = "Bearer abc123secret" }
group_window = "10s"

[[notify]]
name = "mail"
kind = "email"
smtp = "127.0.0.1:25"
from = "opsdash@example.com"
to = ["oncall@example.com", "lead@example.com"]
starttls = false
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "c.toml")
    return [str(p) for p in e.value.problems]


def test_notify_targets_load_with_their_defaults() -> None:
    am, hook, mail = parse_config(GOOD).notify
    assert (am.kind, am.match, am.group_window, am.resend) == ("alertmanager", {"severity": "critical"}, 0.0, 60.0)
    assert hook.group_window == 10.0 and hook.headers == {"Authorization": "Bearer abc123secret"}
    assert "abc123secret" not in repr(hook)
    assert mail.smtp_host_port == ("127.0.0.1", 25) and mail.to == ("oncall@example.com", "lead@example.com")
    assert mail.sender == "opsdash@example.com" and mail.group_window == 30.0 and not mail.starttls


@pytest.mark.parametrize("text, expected", [
    ('[[notify]]\nname = "a"\nkind = "webhook"\n', 'c.toml:1: notify[0].url: is required for kind webhook'),
    ('[[notify]]\nname = "a"\nkind = "pager"\n', 'notify[0].kind: expected one of "alertmanager", "webhook", "email"'),
    ('[[notify]]\nname = "m"\nkind = "email"\nsmtp = "mail"\nfrom = "a@b.c"\nto = ["x@y.z"]\n',
     'c.toml:4: notify[0].smtp: expected "host:port"'),
    ('[[notify]]\nname = "m"\nkind = "email"\nsmtp = "h:25"\nfrom = "a@b.c"\n', "notify[0].to: is required for kind email"),
    ('[[notify]]\nname = "m"\nkind = "email"\nsmtp = "h:25"\nfrom = "a@b.c"\nto = ["nobody"]\n',
     "notify[0].to: expected a list of email addresses"),
    ('[[notify]]\nname = "a"\nkind = "alertmanager"\nurl = "http://h:9093"\nheaders = { X = "y" }\n',
     "notify[0].headers: is for kind webhook only, not alertmanager"),
    ('[[notify]]\nname = "a"\nkind = "webhook"\nurl = "http://h/"\ngroup_windw = "5s"\n',
     'notify[0].group_windw: unknown key (did you mean "group_window"?)'),
    ('[[notify]]\nname = "a"\nkind = "webhook"\nurl = "http://h/"\nmatch = { severity = 2 }\n',
     "notify[0].match: expected a table of strings"),
    ('[[notify]]\nname = "a"\nkind = "webhook"\nurl = "http://h/"\n[[notify]]\nname = "a"\nkind = "webhook"\n'
     'url = "http://h/"\n', 'notify[1].name: duplicate name "a"'),
])
def test_a_notify_mistake_is_one_clear_line(text: str, expected: str) -> None:
    got = problems(text)
    assert any(expected in p for p in got), got
    assert all("\n" not in p for p in got)


def _store_with_outbox(path: Path) -> None:
    with Store(path) as s:
        ev = lambda i: NotifyEvent(f"id{i}", "hook", "firing", "disk", 0.0,  # noqa: E731
                                   {"event_id": f"id{i}", "target": f"web-{i}"})
        s.enqueue_notifications([ev(1), ev(2), ev(3)], [], 1000.0)
        s.notification_sent(s.claim_notification("hook", 1001.0).id, 1001.0)
        s.notification_failed(s.claim_notification("hook", 1002.0).id, "HTTP 503: busy", 1010.0)


def test_notify_status_counts_queued_failing_and_sent(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(GOOD)
    store = tmp_path / "s.sqlite"
    _store_with_outbox(store)
    assert main(["notify", "status", "--config", str(cfg), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "hook (webhook http://127.0.0.1:8080/hook): 1 queued, 1 failing, 1 sent" in out, out
    assert "failing: HTTP 503: busy" in out and "am (alertmanager" in out and "mail (email smtp 127.0.0.1:25)" in out
    assert "id2 hook: firing disk on web-2; 1 attempt" in out and "id3 hook" in out
    assert main(["notify", "status", "--format", "json", "--config", str(cfg), "--store", str(store)]) == 0
    doc = json.loads(capsys.readouterr().out)
    hook = next(t for t in doc["targets"] if t["name"] == "hook")
    assert (hook["queued"], hook["failing"], hook["sent"], hook["last_error"]) == (1, 1, 1, "HTTP 503: busy")
    assert [u["id"] for u in doc["unsent"]] == ["id2", "id3"]


async def test_a_receiver_echoing_the_authorization_header_never_shows_it(tmp_path: Path, capsys) -> None:
    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = f"bad token: {self.headers.get('Authorization')}".encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", free_port()), Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = tmp_path / "c.toml"
    cfg.write_text(GOOD.replace("http://127.0.0.1:8080/hook", f"http://127.0.0.1:{srv.server_address[1]}/hook"))
    store_path = tmp_path / "s.sqlite"
    try:
        config = parse_config(cfg.read_text())
        with Store(store_path) as store:
            store.enqueue_notifications([NotifyEvent("x1", "hook", "firing", "disk", 0.0, {
                "event_id": "x1", "event": "firing", "alert_id": "a", "rule": "disk", "target": "web-1",
                "severity": "warning", "tier": "L1", "since": 1000.0, "ends_at": None, "labels": {}, "annotations": {},
            })], [], 0.0)
            n = Notifier(config, store)
            stop = asyncio.Event()
            task = asyncio.create_task(n.run(stop))
            for _ in range(100):
                if store.notify_counts()["hook"]["failing"]:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 5)
            err = store.notify_counts()["hook"]["last_error"]
        assert "HTTP 500" in err and "abc123secret" not in err and "***" in err, err
    finally:
        srv.shutdown()
        srv.server_close()
    assert main(["notify", "status", "--config", str(cfg), "--store", str(store_path)]) == 0
    out = capsys.readouterr()
    assert "abc123secret" not in out.out + out.err
    assert b"abc123secret" not in store_path.read_bytes()


def test_init_systemd_prints_a_hardened_unit_with_resolved_paths(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "etc" / "opsdash.toml"
    store = tmp_path / "var" / "lib" / "opsdash" / "store.sqlite"
    assert main(["init", "--systemd", "--config", str(cfg), "--store", str(store)]) == 0
    unit = capsys.readouterr().out
    assert not cfg.exists()  # prints, writes nothing
    lines = unit.splitlines()
    for want in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only", "PrivateTmp=yes",
                 "Restart=on-failure", f"ReadWritePaths={store.parent}", "[Install]", "WantedBy=multi-user.target"):
        assert want in lines, (want, unit)
    exec_start = next(x for x in lines if x.startswith("ExecStart="))
    assert exec_start.split()[1:] == ["collect", "--config", str(cfg.resolve()), "--store", str(store.resolve())]
    assert Path(exec_start.split("=", 1)[1].split()[0]).is_absolute()
    if "/tmp" in str(store):
        assert any("WARNING" in x and "PrivateTmp" in x for x in lines)
    if shutil.which("systemd-analyze"):
        f = tmp_path / "opsdash-collect.service"
        f.write_text(unit)
        r = subprocess.run(["systemd-analyze", "verify", str(f)], capture_output=True, text=True, timeout=60)
        assert str(f) not in r.stdout + r.stderr, r.stdout + r.stderr  # no line about our unit: it parsed


def test_a_config_readable_by_others_naming_notify_secrets_is_warned_about(tmp_path: Path) -> None:
    import os

    from opsdash.config import load_config
    from opsdash.security import warn_world_readable_secrets

    pw = tmp_path / "smtp-password"
    pw.write_text("hunter2\n")
    os.chmod(pw, 0o644)
    cfg = tmp_path / "c.toml"
    cfg.write_text(GOOD + f'username = "opsdash"\npassword_file = "{pw}"\n')
    os.chmod(cfg, 0o644)
    warnings = warn_world_readable_secrets(load_config(cfg))
    assert any("notify[1].headers.Authorization" in w and "notify[2].password_file" in w for w in warnings), warnings
    assert any(str(pw) in w and "chmod 600" in w for w in warnings), warnings
    assert all("hunter2" not in w and "abc123secret" not in w for w in warnings)


def test_check_config_lists_the_notify_targets_without_their_secrets(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(GOOD.replace("http://127.0.0.1:8080/hook", "http://u:pw-s3cret@127.0.0.1:8080/hook?token=t0k3n"))
    assert main(["check-config", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "  notify: 3" in out and "am: alertmanager http://127.0.0.1:9093 for severity=critical" in out
    assert "mail: email smtp 127.0.0.1:25 to oncall@example.com, lead@example.com" in out
    assert "pw-s3cret" not in out and "t0k3n" not in out and "abc123secret" not in out
