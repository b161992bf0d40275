"""[[dns]] keys: the issue's example loads as written, and every bad value is one problem
with its key path (and line)."""

from __future__ import annotations

import pytest

from opsdash.alerts.rules import rules_from_config
from opsdash.config import parse_config
from opsdash.errors import ConfigError
from opsdash.kinds.dns import DNSCheck

HOST = '[[hosts]]\nname = "web-1"\naddress = "127.0.0.1"\n'


def test_the_issue_example_loads_with_its_defaults() -> None:
    cfg = parse_config(HOST + """
[[dns]]
name = "shop-a"
query = "shop.example.com"
type = "A"                    # A | AAAA | CNAME | MX | TXT
expect = ["203.0.113.10"]     # optional
server = "127.0.0.1:53"       # optional; default the resolver
vantage = ["local", "web-1"]
""")
    assert cfg.checks["dns"] == (DNSCheck(
        name="shop-a", query="shop.example.com", type="A", expect=("203.0.113.10",), server="127.0.0.1:53",
        vantage=("local", "web-1"), interval=60.0, timeout=5.0, max_ms=None),)


def test_values_are_normalised_as_answers_are() -> None:
    c = parse_config("""
[[dns]]
name = "v6"
query = "Shop.Example.COM."
type = "aaaa"
expect = ["2001:DB8:0:0:0:0:0:1"]
server = "[::1]"
interval = "30s"
timeout = "500ms"
max_ms = { warn = 50 }
[[dns]]
name = "mx"
query = "example.com"
type = "MX"
expect = ["10 MX1.Example.com.", "10 mx1.example.com"]
""").checks["dns"]
    assert (c[0].query, c[0].type, c[0].expect, c[0].server, c[0].interval, c[0].timeout, c[0].max_ms) == (
        "shop.example.com", "AAAA", ("2001:db8::1",), "[::1]:53", 30.0, 0.5, (50.0, 1000.0))
    assert c[0].vantage == ("local",) and c[1].expect == ("10 mx1.example.com",)


def _problems(body: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(HOST + '[[dns]]\nname = "d"\n' + body)
    return [str(p) for p in e.value.problems]


@pytest.mark.parametrize("body,line", [
    ('query = "shop example.com"\n', 'dns[0].query: expected a DNS name like "shop.example.com", got "shop example.com"'),
    ('query = "' + "x" * 64 + '.com"\n', "dns[0].query: expected a DNS name like \"shop.example.com\" (labels of 1-63"),
    ('query = "a.test"\ntype = "SRV"\n', 'dns[0].type: expected one of "A", "AAAA", "CNAME", "MX", "TXT", got "SRV"'),
    ('query = "a.test"\nexpect = ["203.0.113.999"]\n', 'dns[0].expect[0]: expected an IPv4 address (type A), got "203.0.113.999"'),
    ('query = "a.test"\ntype = "MX"\nexpect = ["mail.test"]\n',
     'dns[0].expect[0]: expected a preference and a host like "10 mail.example.com" (type MX), got "mail.test"'),
    ('query = "a.test"\nexpect = []\n', "dns[0].expect: expected at least one value"),
    ('query = "a.test"\nexpect = "203.0.113.10"\n', "dns[0].expect: expected an array of strings"),
    ('query = "a.test"\nserver = "dns.example.com:53"\n', 'dns[0].server: expected an address and port like "127.0.0.1:53"'),
    ('query = "a.test"\nserver = "127.0.0.1:99999"\n', 'dns[0].server: expected an address and port'),
    ('query = "a.test"\nvantage = ["local", "web-2"]\n', 'dns[0].vantage[1]: expected "local" or a configured host, got "web-2"'),
    ('query = "a.test"\nvantage = []\n', "dns[0].vantage: expected at least one vantage"),
    ('query = "a.test"\ninterval = "often"\n', 'dns[0].interval: expected a duration like "90s"'),
    ('query = "a.test"\ntimeout = 0\n', "dns[0].timeout: expected a duration greater than zero, got 0"),
    ('query = "a.test"\nmax_ms = { warn = "fast" }\n', 'dns[0].max_ms.warn: expected a number of milliseconds greater than zero'),
    ('query = "a.test"\nmax_ms = { warn = 2000 }\n', "dns[0].max_ms: expected warn <= crit, got warn 2000 > crit 1000"),
    ('query = "a.test"\nmax_ms = { wran = 20 }\n', 'dns[0].max_ms.wran: unknown key (did you mean "warn"?)'),
    ('query = "a.test"\nexpekt = ["203.0.113.10"]\n', 'dns[0].expekt: unknown key (did you mean "expect"?)'),
    ("", "dns[0].query: is required"),
])
def test_each_bad_value_is_one_problem_with_its_key_path(body: str, line: str) -> None:
    problems = _problems(body)
    assert len(problems) == 1, problems
    assert line in problems[0] and problems[0].startswith("config.toml:")


def test_a_bad_type_does_not_also_blame_the_expect_values() -> None:
    assert len(_problems('query = "a.test"\ntype = "SRV"\nexpect = ["x"]\n')) == 1


def test_duplicate_names_are_one_problem() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config('[[dns]]\nname = "d"\nquery = "a.test"\n[[dns]]\nname = "d"\nquery = "b.test"\n')
    assert [p.path for p in e.value.problems] == ["dns[1].name"]


def test_max_ms_moves_the_slow_rule_for_that_check_only() -> None:
    cfg = parse_config('[[dns]]\nname = "tight"\nquery = "a.test"\nmax_ms = { warn = 20, crit = 80 }\n'
                       '[[dns]]\nname = "usual"\nquery = "b.test"\n')
    (slow,) = [r for r in rules_from_config(cfg) if r.name == "dns-slow"]
    assert (slow.metric, slow.warn, slow.crit) == ("dns.resolve_p95_ms", 200, 1000)
    assert [(o.match, o.warn, o.crit) for o in slow.overrides] == [({"target": "tight"}, 20.0, 80.0)]
