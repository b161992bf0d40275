"""A journey over https: a private CA's ca_file verifies it (from here and from a host, where
the PEM travels in the script), the system store does not, and verify_tls = false skips it."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from opsdash.kinds.journeys import KIND
from tests.support.shop_app import JourneyContext
from tests.support.sshd import Sshd
from tests.support.tls_servers import CA, HTTPSServer, leaf


@pytest.fixture(scope="module")
def https(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    ca = CA()
    (d / "ca.pem").write_bytes(ca.pem())
    srv = HTTPSServer(*leaf(d, "shop", ca=ca, days=30))
    yield srv, d / "ca.pem"
    srv.close()


def _journey(url: str, extra: str = "", host: str = ""):
    cfg = parse_config(host + f"""
[[journeys]]
name = "tls"
{extra}
  [[journeys.steps]]
  name = "home"
  url = "{url}"
  expect_body = "ok"
""")
    return cfg, cfg.checks["journey"][0]


@pytest.mark.parametrize("extra, ok, words", [
    ("ca_file = '{ca}'", True, None),
    ("", False, "tls: step 1 home: TLS: "),
    ("verify_tls = false", True, None),
])
async def test_https_journey_verifies_against_its_ca_file(https, extra, ok, words):
    srv, ca = https
    _, check = _journey(srv.url, extra.format(ca=ca))
    row = await JourneyContext().probe(KIND, check)
    assert row.ok is ok, row.reason
    if words:
        assert row.reason.startswith(words) and "certificate" in row.reason.lower()


async def test_a_missing_ca_file_is_the_journey_s_reason(https, tmp_path: Path):
    srv, _ = https
    _, check = _journey(srv.url, f"ca_file = '{tmp_path / 'nope.pem'}'")
    row = await JourneyContext().probe(KIND, check)
    assert row.reason == f"tls: cannot read ca_file {tmp_path / 'nope.pem'}: No such file or directory"
    assert KIND.state(row.to_json()) == ("error", True)


@pytest.mark.parametrize("extra, ok", [("ca_file = '{ca}'", True), ("", False)])
async def test_a_remote_vantage_uses_the_ca_file_sent_in_its_script(https, sshd: Sshd, extra, ok):
    srv, ca = https
    cfg, check = _journey(srv.url, 'vantage = ["v1"]\n' + extra.format(ca=ca), sshd.host_toml("v1"))
    host = SSHHost(cfg.hosts[0])
    try:
        row = await JourneyContext({"v1": host}).probe(KIND, check, "v1")
    finally:
        await host.close()
    assert row.ok is ok, row.reason
    if not ok:
        # curl's own line, not the advice after it
        assert row.reason.startswith("tls: step 1 home: curl exit 60: TLS certificate not trusted (SSL certificate ")
