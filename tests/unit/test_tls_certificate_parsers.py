"""The openssl parsers and the name match of the TLS kind, on captures from a real openssl 3.0."""

from __future__ import annotations

import pytest

from opsdash.errors import ParseError
from opsdash.kinds import tls
from opsdash.parsers import openssl
from tests.support import FIXTURES

FIX = FIXTURES / "openssl"


def test_verify_code_read_from_s_client():
    assert openssl.parse_verify((FIX / "s_client_ok.txt").read_text()) == (0, "ok")
    assert openssl.parse_verify((FIX / "s_client_selfsigned.txt").read_text()) == (18, "self-signed certificate")
    # time checks are off (-no_check_time): an expired certificate from the CA still verifies
    assert openssl.parse_verify((FIX / "s_client_expired.txt").read_text())[0] == 0


def test_refused_connection_is_a_parse_error_naming_why():
    with pytest.raises(ParseError, match="errno=111"):
        openssl.parse_verify((FIX / "s_client_refused.txt").read_text())


def test_x509_fields():
    f = openssl.parse_x509((FIX / "x509_wrongname.txt").read_text())
    assert f.issuer == "O=opsdash tests,CN=opsdash test CA"
    assert f.subject == "O=opsdash tests,CN=wrong.example"
    assert f.sans == ("DNS:wrong.example", "DNS:www.wrong.example")
    assert f.not_after == openssl.parse_not_after("Mar  2 05:51:09 2027 GMT")
    assert openssl.parse_x509((FIX / "x509_ok.txt").read_text()).sans == ("IP:127.0.0.1", "DNS:localhost")
    with pytest.raises(ParseError):
        openssl.parse_x509("")


@pytest.mark.parametrize("host,sans,subject,ok", [
    ("127.0.0.1", ("IP:127.0.0.1",), "", True),
    ("127.0.0.1", ("DNS:127.0.0.1",), "", False),  # an address matches only an IP SAN
    ("www.example.com", ("DNS:*.example.com",), "", True),
    ("a.b.example.com", ("DNS:*.example.com",), "", False),
    ("example.com", ("DNS:*.example.com",), "", False),
    ("Shop.Example.COM.", ("DNS:shop.example.com",), "", True),
    ("shop.example.com", (), "CN=shop.example.com,O=x", True),  # CN only without DNS SANs
    ("shop.example.com", ("DNS:other.example",), "CN=shop.example.com", False),
])
def test_name_match(host, sans, subject, ok):
    assert tls.name_matches(host, sans, subject) is ok


class _Sec:
    def __init__(self, out: str, rc: int = 0) -> None:
        self.out, self.err, self.rc = out, "", rc


def test_read_remote_sections_into_states():
    now = openssl.parse_not_after("Mar  2 05:51:09 2027 GMT") - 90 * 86400
    wrong = tls.read("127.0.0.1", {"s_client": _Sec((FIX / "s_client_wrongname.txt").read_text()),
                                   "x509": _Sec((FIX / "x509_wrongname.txt").read_text())}, now=now)
    assert (wrong.state, wrong.verified, wrong.name_ok, round(wrong.days_left)) == ("name-mismatch", True, False, 90)
    ss = tls.read("127.0.0.1", {"s_client": _Sec((FIX / "s_client_selfsigned.txt").read_text()),
                                "x509": _Sec((FIX / "x509_selfsigned.txt").read_text())}, now=now)
    assert (ss.state, ss.verified, ss.verify_error) == ("unverified", False, "self-signed certificate")
    refused = tls.read("127.0.0.1", {"s_client": _Sec((FIX / "s_client_refused.txt").read_text()),
                                     "x509": _Sec("")}, now=now)
    assert refused.state == "error" and "errno=111" in refused.error and refused.samples(now, "x", {}) == []
