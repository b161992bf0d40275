"""A journey from a remote vantage: curl on the host over the test sshd, through the one remote
runner, one cookie jar carried from step to step, nothing left in the host's temp dir, and the
password never on a command line there nor in the row."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from opsdash.kinds.journeys import KIND
from tests.support.shop_app import JourneyContext, ShopApp
from tests.support.sshd import Sshd

PASSWORD = "remote-Pa55 'quoted' \"too\" $HOME"


def _config(sshd: Sshd, shop: ShopApp, pass_file: Path) -> str:
    return sshd.host_toml("vantage-1") + f"""
[[journeys]]
name = "checkout"
timeout = "20s"
vantage = ["vantage-1"]
  [[journeys.steps]]
  name = "login"
  method = "POST"
  url = "{shop.url}/login"
  form = {{ user = "synthetic", password_file = "{pass_file}" }}
  expect_status = [302]
  extract = {{ next = "header:Location" }}
  [[journeys.steps]]
  name = "cart"
  url = "{shop.url}{{next}}"
  headers = {{ Accept = "application/json" }}
  expect_body = "Your cart"
  extract = {{ cart_id = "json:$.id" }}
  [[journeys.steps]]
  name = "checkout"
  method = "POST"
  url = "{shop.url}/checkout/{{cart_id}}"
  json = {{ note = "synthetic" }}
  expect_json = {{ "$.status" = "ok" }}
"""


@pytest.fixture
async def remote(sshd: Sshd, tmp_path: Path):
    pass_file = tmp_path / "synthetic.pass"
    pass_file.write_text(PASSWORD + "\n")
    with ShopApp(password=PASSWORD, delay_s=0.03) as shop:
        cfg = parse_config(_config(sshd, shop, pass_file))
        host = SSHHost(cfg.hosts[0])
        try:
            yield shop, cfg.checks["journey"][0], JourneyContext({"vantage-1": host})
        finally:
            await host.close()


def _tmp_dirs() -> set[str]:
    tmp = os.environ.get("TMPDIR", "/tmp")
    return {p for p in os.listdir(tmp) if p.startswith("tmp.")}


async def test_a_remote_vantage_runs_the_journey_with_one_cookie_jar(remote):
    shop, check, ctx = remote
    before = _tmp_dirs()
    row = await ctx.probe(KIND, check, "vantage-1")
    assert row.ok, row.reason
    assert [(s["name"], s["status"]) for s in row.steps] == [("login", 302), ("cart", 200), ("checkout", 200)]
    assert len(shop.orders) == 1  # the cookie from step 1 reached step 3, with the cart's id
    assert row.total_ms == pytest.approx(sum(s["ms"] for s in row.steps), abs=0.2)
    assert all(s["ms"] >= 30 and 0 < s["ttfb_ms"] <= s["ms"] for s in row.steps)
    assert _tmp_dirs() <= before  # each step's temp dir is gone (its trap)

    # the password travels in the script (stdin), written by printf: never in curl's config
    # as a value, never on a command line; and not in the row
    with_it = [ln for b in ctx.scripts for ln in b.splitlines() if "remote-Pa55" in ln]
    assert with_it and all(ln.startswith("printf '%s' ") and ln.endswith(" >secret1") for ln in with_it)
    assert any('data-urlencode = "password@secret1"' in b for b in ctx.scripts)
    assert PASSWORD not in json.dumps(row.to_json())


async def test_a_remote_step_3_that_fails_is_named_as_from_local(remote):
    shop, check, ctx = remote
    shop.broken_checkout = True
    row = await ctx.probe(KIND, check, "vantage-1")
    assert row.reason == "checkout: step 3 checkout: status 500"
    assert KIND.handover_line("checkout", "vantage-1", row.to_json()) == \
        "Journey checkout from vantage-1: step 3 checkout: status 500"
