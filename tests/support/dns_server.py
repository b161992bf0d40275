"""A real DNS server on 127.0.0.1 for the DNS kind's tests (dnslib, in the test extras).

UDP and TCP on one free port, each served by its own thread (dnslib's threading
servers: a slow answer delays only its own query), stopped by ``stop()``. The
test sets the zone: each name answers right, wrong, NXDOMAIN, SERVFAIL or late.

    with DNSServer({"shop.test": Answer("A", ["203.0.113.10"]),
                    "slow.test": Answer("A", ["203.0.113.10"], delay=3.0),
                    "gone.test": Answer(rcode="NXDOMAIN")}) as srv:
        srv.address  # "127.0.0.1:PORT"

A name not in the zone is NXDOMAIN, as at a real authoritative server.
"""

from __future__ import annotations

import asyncio

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import DNSHandler, DNSLogger
from dnslib.server import DNSServer as _Server

__all__ = ["Answer", "DNSServer", "ProbeCtx"]


@dataclass(frozen=True)
class Answer:
    """What one name answers: records of ``rtype`` in zone-file syntax ("203.0.113.10",
    "10 mail.test.", '"v=spf1 -all"'), or an rcode, after ``delay`` seconds."""

    rtype: str = "A"
    values: tuple[str, ...] | list[str] = ()
    rcode: str = "NOERROR"
    delay: float = 0.0
    ttl: int = 60


@dataclass
class _Resolver:
    zone: dict[str, Answer]
    queries: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, "udp" | "tcp")
    stopping: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    idle: threading.Condition = field(default_factory=threading.Condition)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        # stop() waits for the answers in flight: none is sent on a closed socket
        with self.idle:
            self.in_flight += 1
        try:
            return self._resolve(request, handler.protocol)
        finally:
            with self.idle:
                self.in_flight -= 1
                self.idle.notify_all()

    def _resolve(self, request: DNSRecord, protocol: str) -> DNSRecord:
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE[q.qtype]
        self.queries.append((name, qtype, protocol))
        reply = request.reply()
        ans = self.zone.get(name)
        if ans is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if ans.delay:
            self.stopping.wait(ans.delay)  # its own thread: the server's other queries go on
        reply.header.rcode = getattr(RCODE, ans.rcode)
        for _ in range(8):  # a CNAME is followed within the zone, as a resolver would
            if ans is None or ans.rcode != "NOERROR":
                break
            if ans.rtype == qtype or ans.rtype == "CNAME":
                for v in ans.values:
                    for rr in RR.fromZone(f"{name}. {ans.ttl} IN {ans.rtype} {v}"):
                        reply.add_answer(rr)
            if ans.rtype != "CNAME" or qtype == "CNAME" or not ans.values:
                break
            name = str(ans.values[0]).rstrip(".").lower()
            ans = self.zone.get(name)
        return reply


class _Handler(DNSHandler):
    udplen = 512  # a UDP reply past 512 bytes goes out truncated (TC), as without EDNS: clients retry on TCP


class DNSServer:
    def __init__(self, zone: Mapping[str, Answer]):
        self.resolver = _Resolver({k.rstrip(".").lower(): v for k, v in zone.items()})
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False,
                          logf=lambda _s: None)
        for _ in range(20):  # TCP on the port the kernel gave UDP; another process may hold it
            udp = _Server(self.resolver, address="127.0.0.1", port=0, logger=quiet, handler=_Handler)
            self.port = udp.server.server_address[1]
            try:
                tcp = _Server(self.resolver, address="127.0.0.1", port=self.port, tcp=True, logger=quiet,
                              handler=_Handler)
            except OSError:
                udp.server.server_close()
                continue
            break
        else:
            raise RuntimeError("no free port for UDP and TCP at once")
        self._servers = (udp, tcp)
        self._threads = [threading.Thread(target=s.server.serve_forever, kwargs={"poll_interval": 0.05},
                                          daemon=True, name=f"dns-test-{self.port}") for s in self._servers]
        for t in self._threads:
            t.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str, str]]:
        return self.resolver.queries

    def stop(self) -> None:
        self.resolver.stopping.set()  # wake the late answers
        for s in self._servers:
            s.server.shutdown()  # no new queries
        with self.resolver.idle:
            self.resolver.idle.wait_for(lambda: self.resolver.in_flight == 0, timeout=5)
        for s in self._servers:
            s.server.server_close()
        for t in self._threads:
            t.join(5)

    def __enter__(self) -> "DNSServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProbeCtx:
    """A kinds/base.ProbeContext for calling a kind's probe directly: scripts go through
    ``runners`` (vantage -> a Runner; "local" is a LocalRunner) and the real run_script,
    ``previous`` rows are what the last probes returned (or what a test puts there), and
    ``files`` stands in for files read with read_file."""

    def __init__(self, runners: Mapping[str, Any] | None = None, files: Mapping[str, bytes] | None = None):
        from opsdash.collect.runner import LocalRunner

        self.runners = {"local": LocalRunner(), **(runners or {})}
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.files = dict(files or {})
        self.reads: list[str] = []

    def clock(self) -> float:
        return time.time()

    async def run_script(self, vantage: str, body: str, timeout: float) -> Mapping[str, Any]:
        from opsdash.kinds.sections import run_script

        return await run_script(self.runners[vantage], body, timeout=timeout)

    async def previous(self, kind: str, target: str, name: str) -> dict[str, Any] | None:
        return self.rows.get((kind, target, name))

    async def read_file(self, path: str, max_bytes: int = 65536) -> bytes:
        self.reads.append(path)
        if path in self.files:
            return self.files[path][:max_bytes]
        raise FileNotFoundError(2, "No such file or directory", path)

    async def probe(self, kind: Any, check: Any, vantage: str = "local") -> Any:
        """``kind.probe`` after ``kind.warm`` in a thread, keeping its row as the next probe's
        previous (as the collector does)."""
        await asyncio.to_thread(kind.warm)
        row = await kind.probe(check, vantage, self)
        self.rows[(kind.name, check.name, vantage)] = row.to_json()
        return row

