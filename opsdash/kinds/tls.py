"""TLS certificates of https endpoints: keys, probes, metrics, states and runbooks.

What one check finds, from each vantage of an ``[[endpoints]]`` entry whose URL
is https: days until the certificate expires, its issuer, subject and SANs,
whether its chain verifies (against the endpoint's ``ca_file``, else the system
store) and whether it names the host of the URL.

Three figures, three alerts (alerts/rules.py): ``tls.days_left`` (warn/crit
days, per endpoint: ``tls = { warn_days, crit_days }``), ``tls.verified`` and
``tls.name_ok``. They are measured apart on purpose: the chain is verified with
time checks off and the name is matched by us against the SANs, so an expired
certificate is an expiry (its days still shown, negative), a self-signed one an
unverified chain and a wrong-name one a mismatch, each its own state.

Local vantage: ``probe_local`` (asyncio TLS, never blocking the loop; on a failed
verification it connects once more unverified to still read the certificate).
Remote vantages: ``script`` (openssl s_client and x509, run by the collector
through the one remote runner) and ``read`` (opsdash/parsers/openssl.py). Like
every kind this module imports only the model, errors and its parser.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
import secrets
import shlex
import ssl
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from ..errors import ParseError
from .base import Attached, BuiltinRule, Metric
from ..model import Sample
from ..parsers import openssl

__all__ = ["ATTACHED", "KEYS", "METRICS", "RULES", "RUNBOOKS", "TLSConfig", "TLSStatus", "name_matches", "probe_local", "read", "script"]

DAY = 86400.0
# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: verify the chain, leave the dates to days_left.
_NO_CHECK_TIME = 0x200000


@dataclass(frozen=True)
class TLSConfig:
    enabled: bool = True
    warn_days: float = 21.0
    crit_days: float = 7.0


def _days(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ValueError("a number of days (0 or more)")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


# [[endpoints]] tls = { ... } keys: key -> (check raising ValueError(what was expected), default)
KEYS: dict[str, tuple[Any, Any]] = {
    "enabled": (_bool, TLSConfig.enabled),
    "warn_days": (_days, TLSConfig.warn_days),
    "crit_days": (_days, TLSConfig.crit_days),
}

METRICS: tuple[Metric, ...] = (
    Metric("tls.days_left", "certificate days left", "", "Days until the endpoint's certificate expires (negative: expired)."),
    Metric("tls.verified", "certificate chain verifies", "bool", "1 when the certificate chain verifies (ca_file, else the system store).",
           ("certificate chain verifies", "certificate chain does not verify")),
    Metric("tls.name_ok", "certificate names the host", "bool", "1 when the certificate names the endpoint's host.",
           ("certificate names the host", "certificate is for another name")),
)

RUNBOOKS: dict[str, str] = {
    "tls.days_left": "openssl s_client -connect HOST:443 -servername HOST </dev/null | openssl x509 -noout "
                     "-enddate -issuer: renew it (certbot renew / the ACME client's log, or the CA), "
                     "then reload the server; a renewed certificate clears at the next poll",
    "tls.verified": "openssl s_client -connect HOST:443 -servername HOST -showcerts </dev/null: a missing "
                    "intermediate (fix the server's chain file), a self-signed or private-CA certificate "
                    "(set the endpoint's ca_file), or a certificate nobody issued?",
    "tls.name_ok": "openssl s_client -connect HOST:443 -servername HOST </dev/null | openssl x509 -noout "
                   "-ext subjectAltName: the server sends a certificate for another name (wrong vhost, "
                   "default certificate, missing SNI config)",
}


def _own_days(ep: Any) -> tuple[float | None, float | None] | None:
    """An endpoint's own tls = { warn_days, crit_days }, when it differs from the defaults."""
    own, d = (ep.tls.warn_days, ep.tls.crit_days), TLSConfig()
    return own if own != (d.warn_days, d.crit_days) else None


RULES: tuple[BuiltinRule, ...] = (
    BuiltinRule("tls-expiry", "tls.days_left", op="<", warn=TLSConfig.warn_days, crit=TLSConfig.crit_days,
                per_check=_own_days, runbook=RUNBOOKS["tls.days_left"],
                description="certificate expires within 21 days (critical within 7; per endpoint: tls)"),
    BuiltinRule("tls-unverified", "tls.verified", op="<", crit=0.5, runbook=RUNBOOKS["tls.verified"],
                description="the certificate chain does not verify (ca_file, else the system store)"),
    BuiltinRule("tls-name-mismatch", "tls.name_ok", op="<", crit=0.5, runbook=RUNBOOKS["tls.name_ok"],
                description="the certificate does not name the endpoint's host"),
)

# Rides on https [[endpoints]]; per-endpoint expiry thresholds come from each endpoint's tls table.
ATTACHED = Attached("tls", METRICS, RULES, checks=lambda cfg: cfg.endpoints)


@dataclass(frozen=True)
class TLSStatus:
    host: str  # the name the certificate must match
    days_left: float | None = None
    not_after: float | None = None
    issuer: str | None = None
    subject: str | None = None
    sans: tuple[str, ...] = ()
    verified: bool | None = None
    verify_error: str | None = None
    name_ok: bool | None = None
    error: str | None = None  # no certificate at all: why
    warn_days: float = TLSConfig.warn_days
    crit_days: float = TLSConfig.crit_days

    @property
    def state(self) -> str:
        """One word, the worst first: error, expired, unverified, name-mismatch, expiring, ok."""
        if self.error is not None or self.days_left is None:
            return "error"
        if self.days_left <= 0:
            return "expired"
        if self.verified is False:
            return "unverified"
        if self.name_ok is False:
            return "name-mismatch"
        if self.days_left < self.warn_days:
            return "expiring"
        return "ok"

    def samples(self, t: float, target: str, labels: Mapping[str, str]) -> list[Sample]:
        if self.days_left is None:
            return []
        out = [Sample(t, target, "tls.days_left", round(self.days_left, 3), dict(labels))]
        if self.verified is not None:
            out.append(Sample(t, target, "tls.verified", 1.0 if self.verified else 0.0, dict(labels)))
        if self.name_ok is not None:
            out.append(Sample(t, target, "tls.name_ok", 1.0 if self.name_ok else 0.0, dict(labels)))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state, "days_left": None if self.days_left is None else round(self.days_left, 2),
            "not_after": _iso(self.not_after), "issuer": self.issuer, "subject": self.subject,
            "sans": list(self.sans), "verified": self.verified, "verify_error": self.verify_error,
            "name_ok": self.name_ok, "host": self.host, "error": self.error,
        }


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _from_fields(host: str, f: openssl.X509Fields, now: float, cfg: TLSConfig, *,
                 verified: bool, verify_error: str | None) -> TLSStatus:
    return TLSStatus(
        host=host, days_left=(f.not_after - now) / DAY, not_after=f.not_after, issuer=f.issuer,
        subject=f.subject, sans=f.sans, verified=verified, verify_error=verify_error,
        name_ok=name_matches(host, f.sans, f.subject), warn_days=cfg.warn_days, crit_days=cfg.crit_days,
    )


def failed(host: str, error: str, cfg: TLSConfig) -> TLSStatus:
    return TLSStatus(host=host, error=error, warn_days=cfg.warn_days, crit_days=cfg.crit_days)


# --- the name ------------------------------------------------------------------------------

def _cn(subject: str) -> str | None:
    for part in subject.split(","):
        k, _, v = part.strip().partition("=")
        if k.strip().upper() == "CN":
            return v.strip()
    return None


def _dns_match(pattern: str, host: str) -> bool:
    """RFC 6125: a ``*`` only as the whole left-most label, matching exactly one label."""
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p == h:
        return True
    if p.startswith("*.") and "*" not in p[2:]:
        head, _, rest = h.partition(".")
        return bool(head) and rest == p[2:] and rest.count(".") >= 1
    return False


def name_matches(host: str, sans: tuple[str, ...], subject: str = "") -> bool:
    """Does a certificate with these SANs (``DNS:x`` / ``IP:a``) name ``host``? An address
    matches only an IP SAN; the subject CN counts only when there are no DNS SANs (RFC 6125)."""
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        addr = None
    if addr is not None:
        for s in sans:
            if s.startswith("IP:"):
                try:
                    if ipaddress.ip_address(s[3:].strip()) == addr:
                        return True
                except ValueError:
                    continue
        return False
    dns = [s[4:].strip() for s in sans if s.startswith("DNS:")]
    if not dns:
        cn = _cn(subject)
        dns = [cn] if cn else []
    return any(_dns_match(d, host) for d in dns)


# --- local vantage ---------------------------------------------------------------------------

def _fields_from_der(der: bytes) -> openssl.X509Fields:
    # cryptography comes with asyncssh (a dependency): DER -> the same fields openssl prints.
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for n in ext:  # in the certificate's order, as openssl prints them
            if isinstance(n, x509.DNSName):
                sans.append(f"DNS:{n.value}")
            elif isinstance(n, x509.IPAddress):
                sans.append(f"IP:{n.value}")
    except x509.ExtensionNotFound:
        pass
    return openssl.X509Fields(cert.not_valid_after_utc.timestamp(), cert.issuer.rfc4514_string(),
                              cert.subject.rfc4514_string(), tuple(sans))


async def _peer_der(addr: str, port: int, ctx: ssl.SSLContext, sni: str | None, timeout: float) -> bytes:
    async with asyncio.timeout(timeout):
        _, w = await asyncio.open_connection(addr, port, ssl=ctx, server_hostname=sni or "",
                                             ssl_handshake_timeout=timeout)
    try:
        der = w.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        w.transport.abort()  # we came for the certificate, not a close_notify exchange
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


async def probe_local(host: str, addr: str, port: int, *, ca_file: str | None, timeout: float,
                      now: float, cfg: TLSConfig = TLSConfig()) -> TLSStatus:
    """The certificate ``addr:port`` presents for ``host`` (SNI), from this machine.

    ``addr`` is already resolved (the collector resolves off the loop's executor)."""
    sni = None if _is_ip(host) else host
    try:
        ctx = ssl.create_default_context(cafile=ca_file)  # the system store when ca_file is None
    except (OSError, ssl.SSLError) as e:
        return failed(host, f"cannot load ca_file {ca_file}: {getattr(e, 'strerror', None) or e}", cfg)
    ctx.check_hostname = False  # the name is its own figure (name_matches)
    ctx.verify_flags |= _NO_CHECK_TIME  # expiry is days_left's, not the chain's
    verified, verify_error = True, None
    try:
        try:
            der = await _peer_der(addr, port, ctx, sni, timeout)
        except ssl.SSLCertVerificationError as e:
            verified, verify_error = False, e.verify_message or str(e)
            bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            bare.check_hostname = False
            bare.verify_mode = ssl.CERT_NONE
            der = await _peer_der(addr, port, bare, sni, timeout)
        fields = _fields_from_der(der)
    except (TimeoutError, asyncio.TimeoutError):
        return failed(host, f"no TLS handshake within {timeout:g}s", cfg)
    except (OSError, ssl.SSLError, ValueError) as e:
        return failed(host, f"TLS: {getattr(e, 'strerror', None) or e}", cfg)
    return _from_fields(host, fields, now, cfg, verified=verified, verify_error=verify_error)


# --- remote vantages ---------------------------------------------------------------------------

class Section(Protocol):
    rc: int
    out: str
    err: str


def script(host: str, port: int, *, ca_pem: str | None = None) -> str:
    """A ``sec`` script (kinds/sections.run_script): s_client's handshake, then x509 on the
    certificate it printed. A private CA's PEM (public material) travels in the script and
    lives in a ``mktemp -d`` directory removed by a trap."""
    q = shlex.quote
    connect = f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"
    args = ["openssl", "s_client", "-connect", q(connect), "-no_check_time"]
    if not _is_ip(host):
        args += ["-servername", q(host)]
    lines = ["_t=$(mktemp -d) || exit 70", "trap 'rm -rf \"$_t\"' EXIT", "trap 'exit 129' HUP INT TERM"]
    if ca_pem is not None:
        tag = "OPSDASH_CA_" + secrets.token_hex(4)
        lines += [f"cat > \"$_t/ca.pem\" <<'{tag}'", ca_pem.rstrip("\n"), tag]
        args += ["-CAfile", '"$_t/ca.pem"']
    lines += [
        # a function, so the arguments are quoted once, by us; tee keeps the PEM for x509
        "_s() { " + " ".join(args) + " </dev/null 2>&1 | tee \"$_t/s\"; }",
        "sec s_client _s",
        "sec x509 openssl x509 -in \"$_t/s\" -noout -nameopt RFC2253 -enddate -issuer -subject -ext subjectAltName",
    ]
    return "\n".join(lines) + "\n"


def read(host: str, sections: Mapping[str, Section], *, now: float, cfg: TLSConfig = TLSConfig()) -> TLSStatus:
    """What ``script`` sent back. No certificate (refused, no TLS, no openssl): a failed status."""
    s = sections.get("s_client")
    x = sections.get("x509")
    if s is None or x is None:
        return failed(host, "openssl: the probe script did not run", cfg)
    if "not found" in (s.out + s.err) and "openssl" in (s.out + s.err):
        return failed(host, "openssl is not installed on the vantage", cfg)
    try:
        code, words = openssl.parse_verify(s.out)
        fields = openssl.parse_x509(x.out)
    except ParseError as e:
        return failed(host, str(e), cfg)
    return _from_fields(host, fields, now, cfg, verified=code == 0, verify_error=None if code == 0 else words)
