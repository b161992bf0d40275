"""Synthetic journeys against a small real web shop on loopback (tests/support/shop_app.py):
login -> cart -> checkout with one cookie jar and the cart's JSON id, a failing step named,
step times that add up to the journey's, and a password file whose content never shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsdash.config import parse_config
from opsdash.kinds.journeys import KIND
from tests.support.shop_app import JourneyContext, ShopApp

PASSWORD = "s3cret-Pa55 w/ spaces&more"


@pytest.fixture
def shop():
    app = ShopApp(password=PASSWORD, delay_s=0.04).start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def pass_file(tmp_path: Path) -> Path:
    p = tmp_path / "synthetic.pass"
    p.write_text(PASSWORD + "\n")
    return p


def journey(shop: ShopApp, pass_file: Path | str, extra: str = "", timeout: str = "10s"):
    text = f"""
[[journeys]]
name = "checkout"
interval = "1m"
timeout = "{timeout}"
vantage = ["local"]
  [[journeys.steps]]
  name = "login"
  method = "POST"
  url = "{shop.url}/login"
  form = {{ user = "synthetic", password_file = "{pass_file}" }}
  expect_status = [200, 302]
  extract = {{ next = "header:Location" }}
  [[journeys.steps]]
  name = "cart"
  url = "{shop.url}{{next}}"
  expect_body = "Your cart"
  extract = {{ cart_id = "json:$.id", sku = 'regex:"sku": "(\\w+)"' }}
  [[journeys.steps]]
  name = "checkout"
  method = "POST"
  url = "{shop.url}/checkout/{{cart_id}}"
  expect_json = {{ "$.status" = "ok" }}
  max_ttfb = "800ms"
{extra}
"""
    (check,) = parse_config(text).checks["journey"]
    return check


async def test_login_cart_checkout_passes_with_cookies_and_the_json_id(shop, pass_file):
    ctx = JourneyContext()
    row = await ctx.probe(KIND, journey(shop, pass_file))
    assert row.ok, row.reason
    assert [(s["name"], s["status"], s["ok"]) for s in row.steps] == [
        ("login", 302, True), ("cart", 200, True), ("checkout", 200, True)]
    # the checkout used this session's cart id: the shop 404s any other, 403s without the cookie
    assert len(shop.orders) == 1
    assert shop.requests[-1][1].startswith("/checkout/c-")
    assert KIND.state(row.to_json()) == ("ok", False)
    assert KIND.handover_line("checkout", "local", row.to_json()) is None
    ups = [s.value for s in row.samples(row.t, "checkout", {"vantage": "local"}) if s.metric == "journey.up"]
    assert ups == [1.0]


async def test_a_broken_step_3_is_named_with_its_status(shop, pass_file):
    shop.broken_checkout = True
    row = await JourneyContext().probe(KIND, journey(shop, pass_file))
    assert not row.ok
    assert row.reason == "checkout: step 3 checkout: status 500"
    assert (row.failed_step, row.failed_step_name) == (3, "checkout")
    assert KIND.state(row.to_json()) == ("step 3", True)
    assert KIND.handover_line("checkout", "local", row.to_json()) == \
        "Journey checkout from local: step 3 checkout: status 500"
    assert "Internal Server Error" in (row.excerpt or "")
    samples = {s.metric: s.value for s in row.samples(row.t, "checkout", {"vantage": "local"})}
    assert samples["journey.up"] == 0.0 and "journey.duration_ms" not in samples
    assert any("step 3 checkout: POST 500" in line for line in KIND.detail(row.to_json()))


async def test_step_times_add_up_to_the_journey_time_within_5_percent(shop, pass_file):
    shop.delay_s = 0.1  # each step about 100 ms: the gaps between steps are small beside it
    ctx = JourneyContext()
    check = journey(shop, pass_file)
    for _ in range(3):
        row = await ctx.probe(KIND, check)
        assert row.ok, row.reason
        steps_ms = sum(s["ms"] for s in row.steps)
        assert row.total_ms >= 3 * 100  # the shop sleeps 100 ms per request
        assert abs(row.total_ms - steps_ms) <= 0.05 * row.total_ms, (steps_ms, row.total_ms)
        for s in row.steps:
            assert 0 < s["ttfb_ms"] <= s["ms"]
    # p50/p95 over the runs kept in the row, read back through previous()
    assert len(row.recent) == 3
    assert min(row.recent) <= row.p50_ms <= row.p95_ms <= max(row.recent)
    metrics = {s.metric for s in row.samples(row.t, "checkout", {"vantage": "local"})}
    assert {"journey.duration_ms", "journey.duration_p50_ms", "journey.duration_p95_ms",
            "journey.step_ms"} <= metrics


async def test_the_password_from_its_file_never_appears_in_the_row(shop, pass_file):
    # A step that fails on a page echoing what was sent: the body excerpt would carry it.
    extra = f"""
  [[journeys.steps]]
  name = "echo"
  method = "POST"
  url = "{shop.url}/echo"
  form = {{ password_file = "{pass_file}" }}
  expect_body = "never there"
"""
    ctx = JourneyContext()
    row = await ctx.probe(KIND, journey(shop, pass_file, extra))
    assert row.reason == 'checkout: step 4 echo: body lacks "never there"'
    assert row.excerpt and "you sent: password=***" in row.excerpt
    text = json.dumps(row.to_json()) + "\n".join(KIND.detail(row.to_json()))
    for form in (PASSWORD, "s3cret-Pa55+w%2F+spaces%26more", "s3cret-Pa55%20w%2F%20spaces%26more", "s3cret"):
        assert form not in text
    assert tuple(KIND.secrets(journey(shop, pass_file))) == (PASSWORD, PASSWORD)

    # a wrong password: step 1 fails, and the login still never shows it
    pass_file.write_text("wrong-one\n")
    row = await ctx.probe(KIND, journey(shop, pass_file))
    assert row.reason == "checkout: step 1 login: status 401"
    assert "wrong-one" not in json.dumps(row.to_json())


async def test_a_missing_password_file_is_a_clear_reason_at_probe_time(shop, tmp_path):
    missing = tmp_path / "nope.pass"
    row = await JourneyContext().probe(KIND, journey(shop, missing))
    assert row.reason == f"checkout: step 1 login: cannot read password_file {missing}: No such file or directory"
    assert shop.requests == []  # nothing sent without it


async def test_a_journey_that_outlives_its_timeout_names_the_step_it_was_in(shop, pass_file):
    shop.delay_s = 0.4
    row = await JourneyContext().probe(KIND, journey(shop, pass_file, timeout="0.6s"))
    assert row.reason == "checkout: step 2 cart: journey timeout after 0.6s"
    assert [s["name"] for s in row.steps] == ["login", "cart"]


async def test_unreachable_shop_fails_step_1_with_connect_failed(pass_file):
    app = ShopApp()
    app.server.server_close()  # the port is free again: nothing listens
    row = await JourneyContext().probe(KIND, journey(app, pass_file))
    assert row.reason.startswith("checkout: step 1 login: connect failed")


@pytest.mark.parametrize("path, step, reason", [
    ("/deep", 'expect_json = { "$.status" = "ok" }', "body is not JSON"),
    ("/big", 'expect_body = "Your cart"', 'body lacks "Your cart"'),
    ("/checkout/c-1", 'method = "POST"\n  expect_status = [403]\n  extract = { id = "json:$.nope" }',
     "extract id: $.nope missing"),
    ("/checkout/c-1", 'method = "POST"\n  expect_status = [403]\n  expect_json = { "$.status" = "ok" }',
     '$.status is "no session", expected "ok"'),
    ("/login", "", "status 404"),
])
async def test_a_hostile_or_wrong_reply_is_the_step_s_reason_never_an_error(shop, path, step, reason):
    (check,) = parse_config(f"""
[[journeys]]
name = "j"
  [[journeys.steps]]
  name = "get"
  url = "{shop.url}{path}"
  {step}
""").checks["journey"]
    row = await JourneyContext().probe(KIND, check)
    assert row.reason == f"j: step 1 get: {reason}"
    assert len(row.excerpt or "") <= 200
