"""Certificates on real loopback HTTPS servers: each bad one its own state and alert.

Five servers (tests/support/tls_servers.py): a good certificate from a private CA (the
endpoints' ca_file), one expiring in 3 days, one expired 2 days ago, a
self-signed one and one for another name. The Collector polls them from this
machine and, over the test sshd, from a remote vantage (openssl on that host,
through the one remote runner); the alert engine with the built-in rules is fed
what it emitted. Renewing the 3-day certificate clears its alert at the next poll.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

from opsdash.alerts.engine import AlertEngine
from opsdash.alerts.rules import rules_from_config
from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from tests.support.sshd import Sshd
from tests.support.tls_servers import CA, HTTPSServer, leaf

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

# endpoint -> (state, the tls alerts that fire)
EXPECTED = {
    "good": ("ok", set()),
    "soon": ("expiring", {("tls-expiry", "critical")}),
    "expired": ("expired", {("tls-expiry", "critical")}),
    "selfsigned": ("unverified", {("tls-unverified", "critical")}),
    "wrongname": ("name-mismatch", {("tls-name-mismatch", "critical")}),
}


@pytest.fixture
def certs(tmp_path: Path) -> Iterator[tuple[CA, Path, dict[str, HTTPSServer]]]:
    ca = CA()
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    made = {
        "good": leaf(tmp_path, "good", ca=ca, days=90),
        "soon": leaf(tmp_path, "soon", ca=ca, days=3),
        "expired": leaf(tmp_path, "expired", ca=ca, days=-2),
        "selfsigned": leaf(tmp_path, "selfsigned", ca=None, days=90),
        "wrongname": leaf(tmp_path, "wrongname", ca=ca, days=90, names=("wrong.example",)),
    }
    servers = {name: HTTPSServer(*ck) for name, ck in made.items()}
    try:
        yield ca, tmp_path, servers
    finally:
        for s in servers.values():
            s.close()


def _config(tmp: Path, servers: dict[str, HTTPSServer], vantage: str, hosts: str = "") -> str:
    out = hosts
    for name, s in servers.items():
        out += (f'[[endpoints]]\nname = "{name}"\nurl = "{s.url}"\nvantage = ["{vantage}"]\n'
                f'timeout = "5s"\nca_file = {json.dumps(str(tmp / "ca.pem"))}\n')
    return out


class Poller:
    """The collector's endpoint poll, then the engine on what it emitted, on a 15 s clock."""

    def __init__(self, text: str) -> None:
        self.cfg = parse_config(text)
        self.now = time.time()
        self.col = Collector(self.cfg, clock=lambda: self.now)
        self.engine = AlertEngine(rules_from_config(self.cfg))
        self.seen: list = []
        self.col.listeners.append(self.seen.extend)

    async def poll(self, vantage: str) -> set[tuple[str, str, str]]:
        self.now += 15
        await self.col._open()
        for ep in self.cfg.endpoints:
            try:
                await self.col.poll_endpoint(ep, vantage)
            except Exception:
                pass  # a failed request is a ProbeError here; the certificate is what we look at
        await self.col.flush()
        self.engine.observe([s for s in self.seen if s.metric.startswith("tls.")])
        self.seen.clear()
        return {(a.rule, a.target, a.severity) for a in self.engine.active() if a.rule.startswith("tls-")}

    def tls(self, name: str, vantage: str) -> dict:
        ep = next(e for e in self.cfg.endpoints if e.name == name)
        return self.col.endpoint_json(ep, vantage)["tls"]


def _check(p: Poller, firing: set, vantage: str) -> None:
    for name, (state, alerts) in EXPECTED.items():
        t = p.tls(name, vantage)
        assert t["state"] == state, (name, t)
        assert {(r, sev) for r, target, sev in firing if target == name} == alerts, (name, firing)
    days = {name: p.tls(name, vantage)["days_left"] for name in EXPECTED}
    assert 2.9 <= days["soon"] <= 3.0 and -2.1 <= days["expired"] <= -1.9 and days["selfsigned"] > 89
    ss = p.tls("selfsigned", vantage)
    assert ss["verified"] is False and "self-signed" in ss["verify_error"] and ss["name_ok"] is True
    wn = p.tls("wrongname", vantage)
    assert wn["sans"] == ["DNS:wrong.example"] and wn["verified"] is True and wn["name_ok"] is False
    good = p.tls("good", vantage)
    assert good["issuer"] == "O=opsdash tests,CN=opsdash test CA" and "CN=127.0.0.1" in good["subject"]


async def test_each_bad_certificate_has_its_state_and_alert_and_a_renewal_clears_at_the_next_poll(certs) -> None:
    ca, tmp, servers = certs
    p = Poller(_config(tmp, servers, "local"))
    try:
        firing = await p.poll("local")
        _check(p, firing, "local")
        # the private CA's good certificate passes the request too (ca_file reaches the HTTP probe)
        good = next(e for e in p.cfg.endpoints if e.name == "good")
        assert p.col.endpoint_json(good, "local")["state"] == "ok"
        servers["soon"].renew(*leaf(tmp, "soon-renewed", ca=ca, days=90))
        firing = await p.poll("local")
        assert p.tls("soon", "local")["state"] == "ok"
        assert not any(target == "soon" for _r, target, _s in firing)
    finally:
        await p.col.close()


async def test_a_remote_vantage_reads_the_same_certificates_with_openssl_over_ssh(certs, sshd: Sshd) -> None:
    ca, tmp, servers = certs
    p = Poller(_config(tmp, servers, "vantage-1", sshd.host_toml("vantage-1", probes=["health"])))
    try:
        firing = await p.poll("vantage-1")
        _check(p, firing, "vantage-1")
        servers["soon"].renew(*leaf(tmp, "soon-renewed", ca=ca, days=90))
        firing = await p.poll("vantage-1")
        assert p.tls("soon", "vantage-1")["state"] == "ok"
        assert not any(target == "soon" for _r, target, _s in firing)
    finally:
        await p.col.close()
