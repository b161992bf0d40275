"""DNS checks (``[[dns]]``): does a name resolve, to what, and how fast, from each vantage.

One probe asks one question (``query``, ``type``) of one resolver (``server``,
else the vantage's own) and keeps what came back: the response code, the
records of the asked type, whether they are the ``expect``ed ones, and the
time it took. The row keeps the last ``RECENT`` times, so the p50/p95 of the
recent probes survive a collector restart (read back with ``ctx.previous``).

Local vantage: dnspython's asyncio query (UDP, TCP when truncated) to the
configured server, else to the nameservers of /etc/resolv.conf (read through
``ctx.read_file``, off the loop, and kept for ``RESOLV_CONF_TTL``). Nothing
blocks the loop, so a resolver that answers late delays only its own probe.

Remote vantages: ``script`` runs ``dig +tries=1 +time=N`` through the one
remote runner and ``read`` parses it (opsdash/parsers/dig.py). Without dig the
script falls back to ``getent ahosts`` (A/AAAA only, no response code, only the
host's resolver), and the row's reason says so.

Alerts come from three figures: ``dns.up`` (an answer at all: NXDOMAIN,
SERVFAIL, REFUSED, an empty answer, a timeout are 0), ``dns.answer_ok`` (the
answer is the expected one; only for checks with ``expect``) and
``dns.resolve_p95_ms`` (per check: ``max_ms = { warn, crit }``).
"""

from __future__ import annotations

import ipaddress
import math
import shlex
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

# dnspython is imported by warm(), in the collector's thread before the first probe (the
# query side: message, asyncquery, its asyncio backend), and by the config check of a
# [[dns]] name: not by every viewer that reads a config without one, never on the event loop.
if TYPE_CHECKING:
    import dns.exception
    import dns.message
    import dns.name

from ..errors import ParseError
from ..model import Sample
from ..parsers import dig
from .base import BuiltinRule, Column, KeyChecker, Kind, Metric, ProbeContext, Section, is_number

__all__ = ["KIND", "DNSCheck", "DNSKind", "DNSRow", "TYPES", "read", "script"]

TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
RECENT = 20  # probe times kept in the row for p50/p95
RESOLV_CONF = "/etc/resolv.conf"
RESOLV_CONF_TTL = 300.0  # seconds a read of resolv.conf is used before it is read again
DEFAULT_WARN_MS, DEFAULT_CRIT_MS = 200.0, 1000.0


# --- config ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DNSCheck:
    name: str
    query: str  # absolute, without the final dot, IDNA-encoded: "shop.example.com"
    type: str = "A"
    expect: tuple[str, ...] | None = None  # normalised as answers are (see _norm)
    server: str | None = None  # "127.0.0.1:53" / "[::1]:53"; None: the vantage's resolver
    vantage: tuple[str, ...] = ("local",)
    interval: float = 60.0
    timeout: float = 5.0
    max_ms: tuple[float, float] | None = None  # this check's (warn, crit) for the p95

    @property
    def server_addr(self) -> tuple[str, int] | None:
        return None if self.server is None else _split_server(self.server)


def _split_server(text: str) -> tuple[str, int]:
    """ "127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1" -> (address, port); ValueError otherwise."""
    host, port = text, 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(text)
        if rest:
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    addr = ipaddress.ip_address(host)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return str(addr), port


def _show_server(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _name(v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or any(c.isspace() or ord(c) < 32 for c in v):
        raise ValueError("a DNS name like \"shop.example.com\"")
    import dns.exception
    import dns.name

    try:
        n = dns.name.from_text(v)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        raise ValueError("a DNS name like \"shop.example.com\" (labels of 1-63 characters)") from None
    if n == dns.name.root:
        raise ValueError("a DNS name like \"shop.example.com\"")
    return n.to_text(omit_final_dot=True).lower()


def _nonempty(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("a non-empty string")
    return v


def _type(v: Any) -> str:
    if not isinstance(v, str) or v.upper() not in TYPES:
        raise ValueError("one of " + ", ".join(f'"{t}"' for t in TYPES))
    return v.upper()


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("an array of strings")
    return tuple(v)


def _server(v: Any) -> str:
    try:
        if not isinstance(v, str):
            raise ValueError
        return _show_server(*_split_server(v.strip()))
    except ValueError:
        raise ValueError('an address and port like "127.0.0.1:53" or "[::1]:53"') from None


def _table(v: Any) -> Any:
    return v  # checked key by key with ck.table


def _ms(v: Any) -> float:
    if not is_number(v) or not 0 < v < math.inf:
        raise ValueError("a number of milliseconds greater than zero")
    return float(v)


def _expected(rtype: str, v: str) -> str:
    """One ``expect`` value, normalised as answers are; ValueError(what was expected)."""
    try:
        if rtype == "A":
            return str(ipaddress.IPv4Address(v.strip()))
        if rtype == "AAAA":
            return str(ipaddress.IPv6Address(v.strip()))
        if rtype == "CNAME":
            return _name(v)
        if rtype == "MX":
            pref, host = v.split()
            if not 0 <= int(pref) <= 65535:
                raise ValueError
            return f"{int(pref)} {_name(host)}"
    except ValueError:
        what = {"A": "an IPv4 address", "AAAA": "an IPv6 address", "CNAME": "a DNS name",
                "MX": 'a preference and a host like "10 mail.example.com"'}[rtype]
        raise ValueError(f"{what} (type {rtype})") from None
    return v  # TXT: the record's strings, joined


# --- the row -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DNSRow:
    """What one probe found. ``state``: "ok", the response code ("NXDOMAIN", "SERVFAIL",
    "REFUSED"), "NODATA" (NOERROR, no record of the type), "wrong" (not the expected
    answer), "timeout", "not-found" (getent: no address) or "error" (no query was made)."""

    query: str
    type: str
    vantage: str
    server: str  # who was asked: "127.0.0.1:5353", "10.0.0.2:53 (system)"
    state: str
    reason: str
    rcode: str | None = None
    answers: tuple[str, ...] = ()
    expected: tuple[str, ...] | None = None
    resolve_ms: float | None = None
    recent_ms: tuple[float, ...] = ()  # the last RECENT probes' times, oldest first
    tool: str | None = None  # "dnspython" | "dig" | "getent"
    up: bool | None = None  # None: the probe could not run (no sample)
    answer_ok: bool | None = None  # None: no expect, or no answer to compare
    t: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def p50_ms(self) -> float | None:
        return _percentile(self.recent_ms, 50)

    @property
    def p95_ms(self) -> float | None:
        return _percentile(self.recent_ms, 95)

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query, "type": self.type, "vantage": self.vantage, "server": self.server,
            "state": self.state, "ok": self.ok, "reason": self.reason, "rcode": self.rcode,
            "answers": list(self.answers), "expected": None if self.expected is None else list(self.expected),
            "resolve_ms": _round(self.resolve_ms), "p50_ms": _round(self.p50_ms), "p95_ms": _round(self.p95_ms),
            "recent_ms": [_round(x) for x in self.recent_ms], "tool": self.tool, "up": self.up,
            "answer_ok": self.answer_ok, "t": self.t,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "DNSRow":
        def strs(v: Any) -> tuple[str, ...]:
            return tuple(str(x) for x in v) if isinstance(v, list) else ()

        def opt_bool(v: Any) -> bool | None:
            return v if isinstance(v, bool) else None

        exp = d.get("expected")
        return cls(
            query=str(d.get("query") or ""), type=str(d.get("type") or "A"), vantage=str(d.get("vantage") or ""),
            server=str(d.get("server") or ""), state=str(d.get("state") or "error"), reason=str(d.get("reason") or ""),
            rcode=d.get("rcode") if isinstance(d.get("rcode"), str) else None, answers=strs(d.get("answers")),
            expected=strs(exp) if isinstance(exp, list) else None,
            resolve_ms=float(d["resolve_ms"]) if is_number(d.get("resolve_ms")) else None,
            recent_ms=_recent(d), tool=d.get("tool") if isinstance(d.get("tool"), str) else None,
            up=opt_bool(d.get("up")), answer_ok=opt_bool(d.get("answer_ok")),
            t=float(d["t"]) if is_number(d.get("t")) else 0.0,
        )

    def samples(self, t: float, target: str, labels: Mapping[str, str]) -> list[Sample]:
        if self.up is None:  # a row read back without the figure
            return []
        out = [Sample(t, target, "dns.up", 1.0 if self.up else 0.0, dict(labels))]
        if self.answer_ok is not None:
            out.append(Sample(t, target, "dns.answer_ok", 1.0 if self.answer_ok else 0.0, dict(labels)))
        if self.resolve_ms is not None:
            out.append(Sample(t, target, "dns.resolve_ms", round(self.resolve_ms, 3), dict(labels)))
        for metric, v in (("dns.resolve_p50_ms", self.p50_ms), ("dns.resolve_p95_ms", self.p95_ms)):
            if v is not None:
                out.append(Sample(t, target, metric, round(v, 3), dict(labels)))
        return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _recent(d: Mapping[str, Any] | None) -> tuple[float, ...]:
    v = (d or {}).get("recent_ms")
    if not isinstance(v, list):
        return ()
    return tuple(float(x) for x in v if is_number(x) and 0 <= x < math.inf)[-RECENT:]


def _percentile(xs: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks, as opsdash/stats.py's percentile."""
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _fmt(values: Sequence[str]) -> str:
    if not values:
        return "nothing"
    return " + ".join(v if len(v) <= 60 else v[:57] + "..." for v in values[:6]) + (
        f" (+{len(values) - 6} more)" if len(values) > 6 else "")


def _matches(rtype: str, answers: Sequence[str], expected: Sequence[str]) -> bool:
    """A/AAAA/CNAME/MX: exactly the expected set (an extra address is a wrong answer too);
    TXT: every expected string is among the records (a name holds unrelated TXT records)."""
    if rtype == "TXT":
        return set(expected) <= set(answers)
    return set(answers) == set(expected)


def judge(check: DNSCheck, vantage: str, *, server: str, tool: str, rcode: str | None,
          answers: Sequence[str], resolve_ms: float | None, previous: Mapping[str, Any] | None,
          t: float, error: str | None = None, timed_out: bool = False, note: str = "") -> DNSRow:
    """The row for what a query brought back (or why none came), from any vantage."""
    recent = _recent(previous)
    if resolve_ms is not None:
        recent = (recent + (resolve_ms,))[-RECENT:]
    answers = tuple(answers)
    up: bool | None = rcode == "NOERROR" and bool(answers)
    answer_ok: bool | None = None
    q = check.query
    if timed_out:
        state, reason = "timeout", f"no answer within {check.timeout:g}s from {server}"
    elif error is not None:
        state, reason = "error", error
    elif rcode is None:  # getent: no response code
        state, reason = "not-found", f"no {check.type} address for {q}"
    elif rcode == "NXDOMAIN":
        state, reason = "NXDOMAIN", f"NXDOMAIN for {q}"
    elif rcode != "NOERROR":
        state, reason = rcode[:10], f"{rcode} from {server}"
    elif not answers:
        state, reason = "NODATA", f"no {check.type} record for {q} (NOERROR, empty answer)"
    else:
        state, reason = "ok", f"{_fmt(answers)}" + ("" if resolve_ms is None else f" in {resolve_ms:.0f} ms")
    if check.expect is not None and up:  # an empty answer is NODATA (dns.up), not also a wrong one
        answer_ok = _matches(check.type, answers, check.expect)
        if not answer_ok:
            state, reason = "wrong", f"answer {_fmt(answers)}, expected {_fmt(check.expect)}"
    if note:
        reason = f"{reason} ({note})"
    return DNSRow(query=q, type=check.type, vantage=vantage, server=server, state=state, reason=reason[:300],
                  rcode=rcode, answers=answers, expected=check.expect, resolve_ms=resolve_ms, recent_ms=recent,
                  tool=tool, up=up, answer_ok=answer_ok, t=t)


# --- answers, normalised the same from every vantage -------------------------------------------

def _norm(rtype: str, text: str) -> str:
    """One record's data as the row keeps it: addresses compressed, names lower-case without
    the final dot, MX as "PREF host", TXT as its strings joined (as dig prints them, unquoted)."""
    try:
        if rtype in ("A", "AAAA"):
            return str(ipaddress.ip_address(text.strip()))
        if rtype == "CNAME":
            return text.strip().rstrip(".").lower()
        if rtype == "MX":
            pref, _, host = text.strip().partition(" ")
            return f"{int(pref)} {host.strip().rstrip('.').lower()}"
    except ValueError:
        return text.strip()
    if rtype == "TXT":
        return _txt(text)
    return text.strip()


def _txt(text: str) -> str:
    """dig's TXT data ``"v=spf1 -all" "more"`` -> ``v=spf1 -allmore`` (\\" \\\\ \\DDD unescaped)."""
    out = bytearray()
    i, n, quoted = 0, len(text), False
    while i < n:
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif c == "\\" and i + 1 < n:
            if text[i + 1:i + 4].isdigit() and len(text[i + 1:i + 4]) == 3:
                out.append(int(text[i + 1:i + 4]) & 0xFF)
                i += 3
            else:
                out += text[i + 1].encode()
                i += 1
        elif quoted or not c.isspace():
            out += c.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _rdata_text(rtype: str, rd: Any) -> str:
    if rtype == "TXT":
        return b"".join(rd.strings).decode("utf-8", "replace")
    return _norm(rtype, rd.to_text())


# --- local vantage -----------------------------------------------------------------------------

def nameservers(resolv_conf: str) -> tuple[str, ...]:
    """The ``nameserver`` addresses of a resolv.conf, at most 3 as the C library uses;
    127.0.0.1 when there is none (the C library's default too)."""
    out: list[str] = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                out.append(str(ipaddress.ip_address(words[1].split("%")[0])))
            except ValueError:
                continue
    return tuple(out[:3]) or ("127.0.0.1",)


_BACKEND: Any = None  # dnspython's asyncio backend, once DNSKind.warm() has loaded it


def _warm() -> None:
    global _BACKEND, dns  # the probe's functions read the package through this module's name
    import dns.asyncbackend
    import dns.exception  # noqa: F401
    import dns.asyncquery  # noqa: F401
    import dns.message  # noqa: F401
    import dns.rcode  # noqa: F401
    import dns.rdatatype  # noqa: F401

    _BACKEND = dns.asyncbackend.get_backend("asyncio")


async def _ask(q: dns.message.Message, addr: str, port: int, timeout: float) -> dns.message.Message:
    """One query over UDP (TCP when the reply is truncated). The UDP socket is connected, so
    a closed port is "connection refused" at once (ICMP), not a wait for the timeout."""
    af = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = await _BACKEND.make_socket(af, socket.SOCK_DGRAM, 0, None, (addr, port))
    try:
        resp, _tcp = await dns.asyncquery.udp_with_fallback(q, addr, timeout=timeout, port=port, udp_sock=sock,
                                                            backend=_BACKEND)
        return resp
    finally:
        await sock.close()


async def _query(check: DNSCheck, vantage: str, servers: Sequence[tuple[str, int]], system: bool,
                 previous: Mapping[str, Any] | None, t: float) -> DNSRow:
    assert _BACKEND is not None, "DNSKind.warm() first (the collector does)"
    rtype = dns.rdatatype.from_text(check.type)
    q = dns.message.make_query(check.query + ".", rtype)
    # Each server gets its share of the timeout, so the whole probe ends within it.
    share = check.timeout / len(servers)
    refused: list[str] = []
    for addr, port in servers:
        shown = _show_server(addr, port) + (" (system)" if system else "")
        start = time.perf_counter()
        try:
            resp = await _ask(q, addr, port, share)
        except dns.exception.Timeout:
            if len(servers) == 1:
                return judge(check, vantage, server=shown, tool="dnspython", rcode=None, answers=(),
                             resolve_ms=None, previous=previous, t=t, timed_out=True)
            refused.append(f"{shown}: no answer within {share:g}s")
            continue
        except OSError as e:  # ECONNREFUSED (ICMP port unreachable), no route
            refused.append(f"{shown}: {e.strerror or e}")
            continue
        except dns.exception.DNSException as e:  # a reply that is not a DNS message
            refused.append(f"{shown}: bad reply ({e})")
            continue
        ms = (time.perf_counter() - start) * 1000.0
        rcode = dns.rcode.to_text(resp.rcode())
        answers: list[str] = []
        for rrset in resp.answer:  # a CNAME chain's records too: keep the asked type's
            if rrset.rdtype == rtype:
                for rd in rrset:
                    if (a := _rdata_text(check.type, rd)) not in answers:
                        answers.append(a)
        return judge(check, vantage, server=shown, tool="dnspython", rcode=rcode, answers=answers,
                     resolve_ms=ms, previous=previous, t=t)
    timed_out = all("no answer within" in r for r in refused)
    return judge(check, vantage, server=", ".join(_show_server(a, p) for a, p in servers), tool="dnspython",
                 rcode=None, answers=(), resolve_ms=None, previous=previous, t=t, timed_out=timed_out,
                 error=None if timed_out else "no DNS reply " + ("from " if len(refused) == 1 else "") + "; ".join(refused))


# --- remote vantages ---------------------------------------------------------------------------

def script(check: DNSCheck) -> str:
    """A ``sec`` script (kinds/sections.run_script): dig when the vantage has it, else getent
    for A/AAAA with the host's resolver, else a section that says neither can answer."""
    q = shlex.quote
    wait = max(1, math.ceil(check.timeout))  # dig's +time is whole seconds
    args = ["dig", "+tries=1", f"+time={wait}"]
    if (sa := check.server_addr) is not None:
        args += [q("@" + sa[0]), "-p", str(sa[1])]
    args += ["-t", check.type, "-q", q(check.query)]
    fallback = "sec nodig true"
    if check.type in ("A", "AAAA") and check.server is None:
        fallback = "\n".join([
            "if command -v getent >/dev/null 2>&1; then",
            f"  if command -v timeout >/dev/null 2>&1; then _g() {{ timeout {wait} getent ahosts {q(check.query)}; }}",
            f"  else _g() {{ getent ahosts {q(check.query)}; }}; fi",
            "  sec t0 date +%s%N", "  sec getent _g", "  sec t1 date +%s%N",
            "else sec nodig true; fi",
        ])
    return "\n".join([
        "if command -v dig >/dev/null 2>&1; then",
        "  sec dig " + " ".join(args),
        "else",
        fallback,
        "fi",
    ]) + "\n"


def _ns(sections: Mapping[str, Section], key: str) -> int | None:
    s = sections.get(key)
    text = s.out.strip() if s is not None else ""
    return int(text) if text.isdigit() else None


def read(check: DNSCheck, vantage: str, sections: Mapping[str, Section], *,
         previous: Mapping[str, Any] | None, t: float) -> DNSRow:
    """The row for what ``script`` sent back from ``vantage``. Garbage is a row with a reason."""
    asked = check.server or "the host's resolver"

    def row(**kw: Any) -> DNSRow:
        base: dict[str, Any] = {"server": asked, "tool": "dig", "rcode": None, "answers": (),
                                "resolve_ms": None, "previous": previous, "t": t}
        return judge(check, vantage, **{**base, **kw})

    if (s := sections.get("dig")) is not None:
        try:
            r = dig.parse_dig(s.out + "\n" + s.err)
        except ParseError as e:
            return row(error=str(e)[:200])
        server = asked
        if check.server is None and r.server:
            server = r.server.replace("#", ":") + " (system)"
        if r.status is None:
            err = r.error or "no reply"
            return row(server=server, timed_out=r.timed_out, error=f"dig: {err} ({server})")
        if r.query_ms is not None and r.query_ms > check.timeout * 1000:
            # dig waits whole seconds (+time); later than the check's timeout is a timeout from
            # every vantage alike
            return row(server=server, timed_out=True)
        answers: list[str] = []
        for rec in r.records:
            if rec.rtype == check.type and (a := _norm(check.type, rec.data)) not in answers:
                answers.append(a)
        return row(server=server, rcode=r.status, answers=answers, resolve_ms=r.query_ms)
    if (s := sections.get("getent")) is not None:
        note = "via getent ahosts: dig is not installed, so no response code"
        if s.rc == 124:
            return row(tool="getent", timed_out=True, note=note)
        if s.rc not in (0, 2):
            why = (s.err.strip().splitlines() or [f"exit status {s.rc}"])[-1][:200]
            return row(tool="getent", error=f"getent ahosts: {why}", note=note)
        try:
            addrs = dig.parse_getent(s.out) if s.rc == 0 else ()
        except ParseError as e:
            return row(tool="getent", error=str(e)[:200], note=note)
        family = 4 if check.type == "A" else 6
        found = tuple(a for a in (_norm(check.type, x) for x in addrs)
                      if _is_ip(a) and ipaddress.ip_address(a).version == family)
        t0, t1 = _ns(sections, "t0"), _ns(sections, "t1")
        ms = (t1 - t0) / 1e6 if t0 is not None and t1 is not None and t1 >= t0 else None
        if not found:
            return row(tool="getent", resolve_ms=ms, note=note)  # rcode None: "not-found"
        return row(tool="getent", rcode="NOERROR", answers=found, resolve_ms=ms, note=note)
    if "nodig" in sections:
        if check.type not in ("A", "AAAA"):
            why = f"dig is not installed on {vantage} (getent answers A/AAAA only)"
        elif check.server is not None:
            why = f"dig is not installed on {vantage} (getent cannot ask {check.server})"
        else:
            why = f"neither dig nor getent is installed on {vantage}"
        return row(tool=None, error=why)
    return row(error="the DNS probe script did not run")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


# --- the kind ----------------------------------------------------------------------------------

RUNBOOKS = {
    "dns-failed": "dig +tries=1 +time=5 @SERVER NAME TYPE from the failing vantage (without @SERVER: the "
                  "vantage's resolver, cat /etc/resolv.conf). NXDOMAIN: is the record in the zone "
                  "(dig @$(dig +short NS ZONE | head -1) NAME TYPE), did a deploy or a registrar change drop "
                  "it? SERVFAIL: dig +dnssec +cd NAME (DNSSEC) and the resolver's log (journalctl -u "
                  "unbound / named / systemd-resolved); REFUSED: the resolver's ACL; timeout: "
                  "nc -vzu SERVER 53, the firewall and the resolver's process",
    "dns-wrong-answer": "dig +short @SERVER NAME TYPE and compare with dig +short @$(dig +short NS ZONE | "
                        "head -1) NAME TYPE: the zone changed (update expect), a stale cache (wait the "
                        "TTL, or flush: unbound-control flush NAME / resolvectl flush-caches), or "
                        "someone answers for the name who should not (hijack: escalate)",
    "dns-slow": "dig @SERVER NAME TYPE | grep 'Query time' a few times from the vantage: slow every "
                "time is the resolver or its upstream (dig +trace NAME), slow first time only is a cold "
                "cache; check the resolver's load and packet loss to it (mtr -u SERVER)",
}


class DNSKind(Kind):
    name = "dns"
    section = "dns"
    title = "DNS"
    pane = "latency"
    up_metric = "dns.up"
    row_type = DNSRow
    metrics = (
        Metric("dns.up", "DNS answers", "bool",
               "1 when the query got NOERROR with a record of its type; 0 on NXDOMAIN, SERVFAIL, REFUSED, "
               "an empty answer or no answer in time", words=("resolves", "does not resolve")),
        Metric("dns.answer_ok", "DNS answer as expected", "bool",
               "1 when the answer is the check's expect (A/AAAA/CNAME/MX: exactly; TXT: contains), else 0; "
               "only for checks with expect", words=("answers as expected", "wrong answer")),
        Metric("dns.resolve_ms", "resolve time", "ms", "time this probe's query took, milliseconds"),
        Metric("dns.resolve_p50_ms", "resolve p50", "ms",
               f"median resolve time over the check's last {RECENT} answered probes, milliseconds"),
        Metric("dns.resolve_p95_ms", "resolve p95", "ms",
               f"95th percentile resolve time over the check's last {RECENT} answered probes, milliseconds"),
    )
    rules = (
        BuiltinRule("dns-failed", "dns.up", op="<", crit=0.5, attempts=2,
                    description="the name does not resolve from a vantage: NXDOMAIN, SERVFAIL, REFUSED, "
                                "no record of the type, or no answer within the timeout",
                    runbook=RUNBOOKS["dns-failed"], tier={"warning": "L1", "critical": "L2"}),
        BuiltinRule("dns-wrong-answer", "dns.answer_ok", op="<", crit=0.5,
                    description="the name resolves, but not to the check's expect",
                    runbook=RUNBOOKS["dns-wrong-answer"], tier={"warning": "L2", "critical": "L2"}),
        BuiltinRule("dns-slow", "dns.resolve_p95_ms", warn=DEFAULT_WARN_MS, crit=DEFAULT_CRIT_MS,
                    description=f"resolve time p95 over the last {RECENT} probes (warning 200 ms, critical "
                                f"1000 ms; per check: max_ms)",
                    runbook=RUNBOOKS["dns-slow"],
                    per_check=lambda c: c.max_ms),
    )
    columns = (
        Column("p50", "p50_ms", "ms", "dns.resolve_p50_ms"),
        Column("p95", "p95_ms", "ms", "dns.resolve_p95_ms"),
    )

    def __init__(self) -> None:
        self._system: tuple[float, tuple[str, ...]] | None = None  # (read at, nameservers)
        # (check, vantage) -> the recent times of its last row: a probe that cannot run keeps them
        self._recent: dict[tuple[str, str], tuple[float, ...]] = {}

    # --- config ---------------------------------------------------------------------------

    def load(self, ck: KeyChecker, items: list[Any], path: str) -> tuple[DNSCheck, ...]:
        out: list[DNSCheck] = []
        raw: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            p = f"{path}[{i}]"
            v = ck.table(item, p, {
                "name": (_nonempty, ck.REQUIRED),
                "query": (_name, ck.REQUIRED),
                "type": (_type, "A"),
                "expect": (_str_list, None),
                "server": (_server, None),
                "vantage": (_str_list, ("local",)),
                "interval": (_positive(ck), DNSCheck.interval),
                "timeout": (_positive(ck), DNSCheck.timeout),
                "max_ms": (_table, None),
            })
            raw.append(v)
            ok = v["name"] is not None and v["query"] is not None
            expect: tuple[str, ...] | None = None
            type_given = item.get("type", "A") if isinstance(item, dict) else "A"
            if v["expect"] is not None and isinstance(type_given, str) and type_given.upper() in TYPES:
                norm: list[str] = []
                if not v["expect"]:
                    ck.problem(f"{p}.expect", "expected at least one value (or leave expect out)")
                for j, e in enumerate(v["expect"]):
                    try:
                        norm.append(_expected(v["type"], e))
                    except ValueError as err:
                        ck.problem(f"{p}.expect[{j}]", f'expected {err}, got "{e}"')
                        ok = False
                expect = tuple(dict.fromkeys(norm))
            vantage = tuple(dict.fromkeys(v["vantage"]))
            if not vantage:
                ck.problem(f"{p}.vantage", 'expected at least one vantage ("local" or a host name)')
            for j, name in enumerate(v["vantage"]):
                if name != "local" and name not in ck.hosts:
                    ck.problem(f"{p}.vantage[{j}]", f'expected "local" or a configured host, got "{name}"')
                    ok = False
            max_ms = None
            if v["max_ms"] is not None:
                m = ck.table(v["max_ms"], f"{p}.max_ms", {"warn": (_ms, DEFAULT_WARN_MS),
                                                           "crit": (_ms, DEFAULT_CRIT_MS)})
                if m["warn"] > m["crit"]:
                    ck.problem(f"{p}.max_ms", f"expected warn <= crit, got warn {m['warn']:g} > crit {m['crit']:g}")
                max_ms = (m["warn"], m["crit"])
            if ok:
                out.append(DNSCheck(name=v["name"], query=v["query"], type=v["type"], expect=expect,
                                    server=v["server"], vantage=vantage or ("local",), interval=v["interval"],
                                    timeout=v["timeout"], max_ms=max_ms))
        ck.unique(raw, path)
        return tuple(out)

    # --- probing --------------------------------------------------------------------------

    def warm(self) -> None:
        _warm()

    async def probe(self, check: DNSCheck, vantage: str, ctx: ProbeContext) -> DNSRow:
        key = (check.name, vantage)
        previous = await ctx.previous(self.name, check.name, vantage)
        self._recent[key] = _recent(previous)  # before anything can fail: failed() keeps them
        row = await self._probe(check, vantage, ctx, previous)
        self._recent[key] = row.recent_ms
        return row

    async def _probe(self, check: DNSCheck, vantage: str, ctx: ProbeContext,
                     previous: Mapping[str, Any] | None) -> DNSRow:
        t = ctx.clock()
        if vantage != "local":
            # within the collector's job timeout (the check's + 5 s), so the script's end is ours to read
            sections = await ctx.run_script(vantage, script(check), timeout=check.timeout + 4)
            return read(check, vantage, sections, previous=previous, t=t)
        if (sa := check.server_addr) is not None:
            return await _query(check, vantage, [sa], False, previous, t)
        servers = await self._nameservers(ctx)
        return await _query(check, vantage, [(a, 53) for a in servers], True, previous, t)

    async def _nameservers(self, ctx: ProbeContext) -> tuple[str, ...]:
        now = time.monotonic()
        if self._system is None or now - self._system[0] > RESOLV_CONF_TTL:
            try:
                text = (await ctx.read_file(RESOLV_CONF)).decode("utf-8", "replace")
            except OSError:
                text = ""
            self._system = (now, nameservers(text))
        return self._system[1]

    def failed(self, check: DNSCheck, vantage: str, reason: str, t: float) -> DNSRow:
        """The vantage could not be used (SSH down, the job's timeout): down, with the recent
        times kept, so p50/p95 do not start over at the next probe."""
        return DNSRow(query=check.query, type=check.type, vantage=vantage,
                      server=check.server or "the vantage's resolver", state="error", reason=reason[:300],
                      expected=check.expect, recent_ms=self._recent.get((check.name, vantage), ()),
                      up=False, t=t)

    # --- showing --------------------------------------------------------------------------

    def state(self, row: Mapping[str, Any]) -> tuple[str, bool]:
        word = str(row.get("state") or "error")
        return word, word != "ok"

    def detail(self, row: Mapping[str, Any]) -> list[str]:
        r = DNSRow.from_json(row)
        lines = [f"query: {r.query} {r.type}", f"server: {r.server}", f"vantage: {r.vantage}",
                 f"state: {r.state}", f"reason: {r.reason}"]
        if r.rcode is not None:
            lines.append(f"rcode: {r.rcode}")
        lines.append(f"answers: {', '.join(r.answers) if r.answers else '-'}")
        if r.expected is not None:
            lines.append(f"expected: {', '.join(r.expected)}")
        if r.resolve_ms is not None:
            lines.append(f"resolve: {r.resolve_ms:.1f} ms")
        if r.recent_ms:
            lines.append(f"p50/p95: {r.p50_ms:.1f} / {r.p95_ms:.1f} ms over the last {len(r.recent_ms)} answers")
        if r.tool:
            lines.append(f"via: {r.tool}")
        return lines

    def handover_line(self, target: str, vantage: str, row: Mapping[str, Any]) -> str | None:
        word, failing = self.state(row)
        if not failing:
            return None
        return f"DNS {target} from {vantage}: {row.get('reason') or word}"


def _positive(ck: KeyChecker) -> Any:
    def check(v: Any) -> float:
        d = ck.duration(v)
        if not d > 0:
            raise ValueError("a duration greater than zero")
        return d
    return check


KIND = DNSKind()
