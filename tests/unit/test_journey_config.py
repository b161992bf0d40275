"""[[journeys]] keys: the issue's example loads as written; each bad key is one problem with its key path."""

from __future__ import annotations

import pytest

from opsdash.config import parse_config
from opsdash.errors import ConfigError
from opsdash.kinds.journeys import KIND, Journey

EXAMPLE = """
[[journeys]]
name = "checkout"
interval = "1m"
vantage = ["local"]
  [[journeys.steps]]
  name = "login"
  method = "POST"
  url = "https://shop.example.com/login"
  form = { user = "synthetic", password_file = "/etc/opsdash/synthetic.pass" }
  expect_status = [200, 302]
  [[journeys.steps]]
  name = "cart"
  url = "https://shop.example.com/cart"
  expect_body = "Your cart"
  extract = { cart_id = "json:$.id" }
  [[journeys.steps]]
  name = "checkout"
  method = "POST"
  url = "https://shop.example.com/checkout/{cart_id}"
  expect_json = { "$.status" = "ok" }
  max_ttfb = "800ms"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    return [str(p) for p in e.value.problems]


def one_step(step: str, journey: str = "") -> str:
    return f"""
[[journeys]]
name = "j"
{journey}
  [[journeys.steps]]
  name = "s"
  url = "http://127.0.0.1:8080/x"
{step}
"""


def test_the_issue_example_loads_with_its_defaults():
    (j,) = parse_config(EXAMPLE).checks["journey"]
    assert isinstance(j, Journey)
    assert (j.name, j.interval, j.timeout, j.vantage) == ("checkout", 60.0, 30.0, ("local",))
    login, cart, checkout = j.steps
    assert login.method == "POST" and login.expect_status == (200, 302)
    assert login.form == (("user", "synthetic", False), ("password", "/etc/opsdash/synthetic.pass", True))
    assert login.secret_files == (("password", "/etc/opsdash/synthetic.pass"),)
    assert cart.method == "GET" and cart.expect_status == (200,) and cart.expect_body == "Your cart"
    assert [(e.var, e.how, e.path) for e in cart.extract] == [("cart_id", "json", ("id",))]
    assert checkout.max_ttfb == pytest.approx(0.8)
    assert [(k, p, v) for k, p, v in checkout.expect_json] == [("$.status", ("status",), "ok")]
    assert KIND.vantages(j) == ("local",)


@pytest.mark.parametrize("step, path, words", [
    ('method = "FETCH"', "journeys[0].steps[0].method", "one of GET, POST"),
    ("expect_status = [200, 999]", "journeys[0].steps[0].expect_status", "statuses 100-599"),
    ('expect_status = "200"', "journeys[0].steps[0].expect_status", "statuses"),
    ('max_ttfb = "fast"', "journeys[0].steps[0].max_ttfb", "duration"),
    ('max_ttfb = "0s"', "journeys[0].steps[0].max_ttfb", "above zero"),
    ('expect_json = { "status" = "ok" }', "journeys[0].steps[0].expect_json", 'starts with "$"'),
    ('expect_json = { "$.a[" = 1 }', "journeys[0].steps[0].expect_json", "JSON paths"),
    ('extract = { id = "xpath://id" }', "journeys[0].steps[0].extract.id", '"json:$.path"'),
    ('extract = { id = "regex:(a)(b)" }', "journeys[0].steps[0].extract.id", "exactly one group (it has 2)"),
    ('extract = { id = "regex:([" }', "journeys[0].steps[0].extract.id", "not a regex"),
    ('extract = { id = "header:Bad Name" }', "journeys[0].steps[0].extract.id", "not a header name"),
    ('extract = { 1d = "json:$.id" }', "journeys[0].steps[0].extract.1d", "a variable is a name"),
    ('headers = { Accept = 3 }', "journeys[0].steps[0].headers", "table of strings"),
    ('form = { a = true }', "journeys[0].steps[0].form", "table of values"),
    ('form = { password = "x", password_file = "/p" }', "journeys[0].steps[0].form.password", "twice"),
    ('form = { a = "1" }\njson = { b = 2 }', "journeys[0].steps[0].json", "not both"),
    ('expect_body = ""', "journeys[0].steps[0].expect_body", "non-empty"),
    ('methd = "GET"', "journeys[0].steps[0].methd", 'did you mean "method"'),
])
def test_each_bad_step_key_is_one_problem_with_its_path(step, path, words):
    (p,) = problems(one_step(step))
    assert f": {path}: " in p and words in p, p


@pytest.mark.parametrize("journey, path, words", [
    ('interval = "often"', "journeys[0].interval", "duration"),
    ('timeout = 0', "journeys[0].timeout", "above zero"),
    ('vantage = ["mars"]', "journeys[0].vantage[0]", 'unknown vantage "mars"'),
    ('vantage = "local"\nmax_duration = "2s"\nwarn_duration = "3s"', "journeys[0].warn_duration", "less than"),
    ('verify_tls = "yes"', "journeys[0].verify_tls", "true or false"),
    ('intreval = "1m"', "journeys[0].intreval", 'did you mean "interval"'),
])
def test_each_bad_journey_key_is_one_problem_with_its_path(journey, path, words):
    (p,) = problems(one_step("", journey))
    assert f": {path}: " in p and words in p, p


def test_a_configured_host_is_a_vantage_and_an_unknown_name_is_not():
    host = '[[hosts]]\nname = "web-1"\naddress = "127.0.0.1"\n'
    (j,) = parse_config(host + one_step("", 'vantage = ["local", "web-1"]')).checks["journey"]
    assert KIND.vantages(j) == ("local", "web-1")
    (p,) = problems(host + one_step("", 'vantage = ["local", "web-2"]'))
    assert 'journeys[0].vantage[1]: unknown vantage "web-2": expected "local" or a host name' in p


def test_an_unknown_variable_in_a_url_names_the_step():
    text = EXAMPLE.replace("/checkout/{cart_id}", "/checkout/{card_id}")
    (p,) = problems(text)
    assert "journeys[0].steps[2].url: " in p
    assert 'step 3 "checkout" uses {card_id}, which no earlier step extracts (extracted before it: cart_id)' in p


def test_a_variable_is_only_known_after_the_step_that_extracts_it():
    text = one_step('url = "http://127.0.0.1/{me}"\nextract = { me = "json:$.me" }').replace(
        '  url = "http://127.0.0.1:8080/x"\n', "")
    (p,) = problems(text)
    assert "steps[0].url" in p and "{me}" in p


def test_a_url_must_say_its_host_before_any_variable():
    text = EXAMPLE.replace("https://shop.example.com/checkout/{cart_id}", "{cart_id}")
    (p,) = problems(text)
    assert "journeys[0].steps[2].url: expected an http:// or https:// URL with its host" in p


def test_duplicate_names_and_missing_keys_are_problems():
    text = EXAMPLE + EXAMPLE.replace('name = "login"', 'name = "cart"')
    ps = problems(text)
    assert any('journeys[1].name: duplicate name "checkout"' in p for p in ps)
    assert any('journeys[1].steps[1].name: duplicate name "cart"' in p for p in ps)
    ps = problems('[[journeys]]\nname = "x"\n')
    assert ps == [p for p in ps if "journeys[0].steps: is required" in p] and len(ps) == 1


def test_the_slow_rule_takes_a_journey_s_own_thresholds():
    (rule,) = [r for r in KIND.rules if r.name == "journey-slow"]
    (j,) = parse_config(EXAMPLE).checks["journey"]
    assert rule.per_check(j) is None
    (j,) = parse_config(EXAMPLE.replace('interval = "1m"', 'max_duration = "4s"')).checks["journey"]
    assert rule.per_check(j) == (2000.0, 4000.0)
    (j,) = parse_config(EXAMPLE.replace('interval = "1m"', 'max_duration = "4s"\nwarn_duration = "3s"')
                        ).checks["journey"]
    assert rule.per_check(j) == (3000.0, 4000.0)
    (j,) = parse_config(EXAMPLE.replace('interval = "1m"', 'warn_duration = "8s"')).checks["journey"]
    assert rule.per_check(j) == (8000.0, 16000.0)


def test_the_kind_declares_metrics_rules_and_columns_it_emits():
    names = {m.name for m in KIND.metrics}
    assert names == {"journey.up", "journey.duration_ms", "journey.duration_p50_ms", "journey.duration_p95_ms",
                     "journey.step_ms"}
    assert all(m.label and m.help and m.unit for m in KIND.metrics)
    assert KIND.up_metric == "journey.up"
    assert {r.name: r.metric for r in KIND.rules} == {"journey-failed": "journey.up",
                                                      "journey-slow": "journey.duration_p95_ms"}
    assert all(r.runbook and r.description for r in KIND.rules)
    assert {c.slot: c.key for c in KIND.columns} == {"p50": "p50_ms", "p95": "p95_ms"}
    assert {c.metric for c in KIND.columns} <= names
