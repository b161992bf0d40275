"""An endpoint behind a private CA, requested from a remote vantage: curl there verifies
against the endpoint's ca_file (the PEM travels with the request), so a healthy endpoint
is up from every vantage, and the CA's temp file is gone from the host afterwards."""

from __future__ import annotations

import glob
import json
import time
from pathlib import Path

import pytest

from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from opsdash.errors import ProbeError
from tests.support.sshd import Sshd
from tests.support.tls_servers import CA, HTTPSServer, leaf


async def test_remote_curl_verifies_with_the_endpoints_ca_file(tmp_path: Path, sshd: Sshd) -> None:
    ca = CA()
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    server = HTTPSServer(*leaf(tmp_path, "good", ca=ca, days=90))
    text = sshd.host_toml("vantage-1", probes=["health"])
    for name, extra in (("private", f"ca_file = {json.dumps(str(tmp_path / 'ca.pem'))}\n"), ("system-store", "")):
        text += (f'[[endpoints]]\nname = "{name}"\nurl = "{server.url}"\nvantage = ["vantage-1"]\n'
                 f'timeout = "5s"\n{extra}')
    cfg = parse_config(text)
    col = Collector(cfg, clock=time.time)
    try:
        await col._open()
        await col.poll_endpoint(cfg.endpoints[0], "vantage-1")
        with pytest.raises(ProbeError):  # a failed request is recorded, then raised to the job
            await col.poll_endpoint(cfg.endpoints[1], "vantage-1")
        private, system = (col.endpoint_json(ep, "vantage-1") for ep in cfg.endpoints)
        assert private["state"] == "ok" and private["status"] == 200, private
        # Without it the host's store refuses the private CA: that is the endpoint's error, named.
        assert system["state"] != "ok" and "certificate" in (system["error"] or "").lower(), system
    finally:
        await col.close()
        server.close()
    pem = ca.pem().decode()
    left = [p for p in glob.glob("/tmp/tmp.*/ca.pem") if Path(p).read_text(errors="replace") == pem]
    assert left == []
