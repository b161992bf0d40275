"""Parsers for ``openssl s_client`` and ``openssl x509 -noout ...`` output.

What a remote vantage sends back for a TLS endpoint (opsdash/kinds/tls.py):

- ``openssl s_client -connect H:P [-servername N] -no_check_time [-CAfile F]``:
  we read only its ``Verify return code: N (text)`` line (0 is a chain that
  verifies; time is not checked, expiry is the days figure's business), and on a
  failed connection its last error line;
- ``openssl x509 -noout -nameopt RFC2253 -enddate -issuer -subject -ext
  subjectAltName`` on the certificate it printed: notAfter, issuer, subject and
  the SAN list.

Pure functions over text, tested on captures from a real openssl 3.0
(tests/fixtures/openssl/).
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

from ..errors import ParseError

__all__ = ["X509Fields", "parse_not_after", "parse_verify", "parse_x509"]

_VERIFY = re.compile(r"^\s*Verify return code:\s*(-?\d+)\s*\((.*)\)\s*$", re.M)


@dataclass(frozen=True, slots=True)
class X509Fields:
    not_after: float  # Unix time
    issuer: str
    subject: str
    sans: tuple[str, ...]  # "DNS:name" / "IP:addr", as openssl names them (IP Address -> IP)


def parse_verify(text: str) -> tuple[int, str]:
    """(code, text) of s_client's last ``Verify return code`` line. No such line: the
    handshake never got that far; ParseError with s_client's last error words."""
    found = _VERIFY.findall(text)
    if found:
        code, words = found[-1]
        return int(code), words.strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("---")]
    errs = [ln for ln in lines if "error" in ln.lower() or "errno" in ln.lower() or "refused" in ln.lower()]
    reason = (errs or lines or ["no output"])[-1]
    raise ParseError(f"openssl s_client: no certificate ({reason[:200]})")


def parse_not_after(value: str) -> float:
    """``Dec  5 05:49:01 2026 GMT`` -> Unix time."""
    v = " ".join(value.split())
    try:
        return float(calendar.timegm(time.strptime(v, "%b %d %H:%M:%S %Y GMT")))
    except ValueError:
        raise ParseError(f"openssl x509: unreadable notAfter {value!r}") from None


def parse_x509(text: str) -> X509Fields:
    not_after: float | None = None
    issuer = subject = ""
    sans: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("notAfter="):
            not_after = parse_not_after(s.split("=", 1)[1])
        elif s.startswith("issuer="):
            issuer = s.split("=", 1)[1].strip()
        elif s.startswith("subject="):
            subject = s.split("=", 1)[1].strip()
        elif s.startswith("X509v3 Subject Alternative Name"):
            # The list is on the next line: "DNS:a, DNS:b, IP Address:127.0.0.1"
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            for item in nxt.split(","):
                item = item.strip()
                if item.startswith("IP Address:"):
                    sans.append("IP:" + item.split(":", 1)[1])
                elif item:
                    sans.append(item)
    if not_after is None:
        raise ParseError("openssl x509: no notAfter line (no certificate in the reply)")
    return X509Fields(not_after, issuer, subject, tuple(sans))
