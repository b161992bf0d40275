"""A certificate's state reaches the Latency pane and the drill-down's fields, and an
endpoint's own tls thresholds move its warning: the real collector, store and view."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from opsdash.alerts.rules import rules_from_config
from opsdash.alerts.severity import Severity
from opsdash.collect.collector import Collector
from opsdash.config import parse_config
from opsdash.errors import ConfigError
from opsdash.store import Store
from opsdash.ui.data import build_view, load_snapshot
from opsdash.ui.detail import _flatten
from tests.support.tls_servers import CA, HTTPSServer, leaf


async def test_latency_rows_say_cert_days_and_an_endpoint_threshold_moves_the_warning(tmp_path: Path) -> None:
    ca = CA()
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    servers = {
        "soon": HTTPSServer(*leaf(tmp_path, "soon", ca=ca, days=3)),
        "month": HTTPSServer(*leaf(tmp_path, "month", ca=ca, days=25)),  # default warn 21: ok
        "strict": HTTPSServer(*leaf(tmp_path, "strict", ca=ca, days=25)),  # warn_days = 30: warning
        "selfsigned": HTTPSServer(*leaf(tmp_path, "ss", ca=None, days=90)),
    }
    text = "".join(
        f'[[endpoints]]\nname = "{n}"\nurl = "{s.url}"\ntimeout = "5s"\n'
        f'ca_file = {json.dumps(str(tmp_path / "ca.pem"))}\n'
        + ("tls = { warn_days = 30, crit_days = 10 }\n" if n == "strict" else "")
        for n, s in servers.items())
    cfg = parse_config(text)
    try:
        with Store(tmp_path / "s.sqlite") as store:
            col = Collector(cfg, store)
            await col.snapshot_once(probes={"http"})
            view = build_view(load_snapshot(store, time.time()), severity=Severity(rules_from_config(cfg)))
            state = {r.ref.target: r.cells[0][0] for r in view.rows["latency"]}
            assert state["soon"] == "✖ cert 3d"  # 3 days: under crit 7
            assert state["month"] == "● ok"
            assert state["strict"] == "▲ cert 25d"  # its own warn_days 30
            assert state["selfsigned"] == "✖ cert CA"
            row = next(r for r in store.latest("endpoint", raw=False) if r["target"] == "soon")
            fields = dict(_flatten(row["data"]))
            assert fields["tls.state"] == "expiring" and fields["tls.issuer"] == "O=opsdash tests,CN=opsdash test CA"
            assert fields["tls.sans"] == ["IP:127.0.0.1", "DNS:localhost"] and fields["tls.verified"] is True
    finally:
        for s in servers.values():
            s.close()


@pytest.mark.parametrize("tls,why", [
    ('{ warn_days = "soon" }', "endpoints[0].tls.warn_days: expected a number of days"),
    ("{ warn_days = 5, crit_days = 10 }", "crit_days <= warn_days"),
    ("{ warn_dayz = 5 }", 'did you mean "warn_days"'),
])
def test_bad_tls_keys_get_one_clear_line(tls: str, why: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(f'[[endpoints]]\nname = "a"\nurl = "https://127.0.0.1:1/"\ntls = {tls}\n')
    assert why in str(e.value)


async def test_verify_tls_false_leaves_the_chain_unjudged_but_still_counts_the_days(tmp_path: Path) -> None:
    srv = HTTPSServer(*leaf(tmp_path, "ss", ca=None, days=5))
    try:
        cfg = parse_config(f'[[endpoints]]\nname = "lab"\nurl = "{srv.url}"\nverify_tls = false\ntimeout = "5s"\n')
        col = Collector(cfg)
        seen: list = []
        col.listeners.append(seen.extend)
        await col.snapshot_once(probes={"http"})
        tls = col.endpoint_json(cfg.endpoints[0], "local")["tls"]
        assert tls["verified"] is None and tls["state"] == "expiring" and 4.9 < tls["days_left"] <= 5
        assert {s.metric for s in seen if s.metric.startswith("tls.")} == {"tls.days_left", "tls.name_ok"}
        assert col.endpoint_json(cfg.endpoints[0], "local")["state"] == "ok"
    finally:
        srv.close()
