"""Keys, known_hosts and config.toml for the demo fleet, in one directory.

``make_keys(d)`` runs before the fleet starts (it needs the host key and the
client's public key); ``write_config(d, ready)`` after, when the fleet's
``fleet.json`` says which ports it got. Intervals are short (5 s health,
30 s patches and backups, 60 s restore tests) so the story shows in minutes,
and the rules' ``for`` are shortened to match.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncssh
import tomli_w

from . import checks, story
from .fleet import CLIENT_KEY, HOST_KEY

KNOWN_HOSTS = "known_hosts"
CONFIG = "config.toml"


def make_keys(d: Path) -> None:
    """An ed25519 host key for the fleet and a client key for opsdash (kept if present)."""
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    for name in (HOST_KEY, CLIENT_KEY):
        path = d / name
        if path.exists():
            continue
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"opsdash-demo-{name}")
        key.write_private_key(str(path))
        os.chmod(path, 0o600)
        key.write_public_key(str(path) + ".pub")


def _host(h: story.Host, d: Path, port: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": h.name,
        "address": "127.0.0.1",
        "port": port,
        "user": h.name,  # the fleet tells its hosts apart by user name
        "tags": {"role": h.role, "region": h.region},
        "probes": ["health", "patches"],
    }
    if not h.core:
        entry.update(interval="15s", patches_interval="5m")
    if h.caches:
        entry["caches"] = [{"name": c.name, "kind": c.kind, "address": c.address} for c in h.caches]
    if h.backups:
        entry["backups"] = [
            {
                "name": b.name,
                "kind": "restic",
                "repository": b.repository,
                "password_file": f"/etc/restic/{b.name}.pass",
                "max_age": "26h",
                "interval": "30s",
                "restore_test": {"every": "60s", "sample": b.sample, "timeout": "2m"},
            }
            for b in h.backups
        ]
    return entry


def _endpoint(e: story.Endpoint, http_port: int, hosts: set[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": e.name,
        "url": f"http://127.0.0.1:{http_port}/{e.name}",
        "interval": "5s",
        "timeout": "5s",
        "window": "2m",
        "vantage": [v for v in e.vantage if v == "local" or v in hosts],
        "tags": {"region": e.region},
    }
    slo = {}
    if e.slo_availability is not None:
        slo["availability"] = e.slo_availability
    if e.slo_p95_ms is not None:
        slo["ttfb_p95_ms"] = e.slo_p95_ms
    if slo:
        entry["slo"] = slo
    return entry


# Built-in rules restated with `for` shortened to demo time (the loader wants
# metric and thresholds on every entry), plus a rule for endpoints going down.
RULES: list[dict[str, Any]] = [
    {"name": "disk", "metric": "host.disk_percent", "warn": 85, "crit": 95, "clear": 80, "for": "1m"},
    {"name": "ttfb-p95", "metric": "endpoint.ttfb_p95_ms", "warn": 400, "crit": 800, "clear": 300,
     "for": "1m", "keep_firing_for": "1m", "flap": {"low": 20, "high": 30}},
    {"name": "cache-hit-rate", "metric": "cache.hit_rate", "op": "<", "warn": 0.8, "crit": 0.5, "clear": 0.85,
     "for": "1m"},
    # status-page fails about one poll in six: its error rate sits near 17 %.
    # The demo pages on a sustained 25 % instead of the built-in 1 %.
    {"name": "error-rate", "metric": "endpoint.error_rate", "warn": 0.25, "crit": 0.5, "clear": 0.15, "for": "2m",
     "flap": {"low": 20, "high": 30}},
    # The flapping endpoint's outages last one poll: `for` keeps them pending,
    # flap detection marks the series flapping instead of paging.
    {"name": "endpoint-down", "metric": "endpoint.up", "op": "<", "crit": 0.5, "for": "30s",
     "flap": {"low": 15, "high": 25}, "summary": "{target} is down",
     "runbook": "curl -v the URL from each vantage; check the load balancer's health checks"},
]


def config_doc(d: Path, ready: dict[str, Any]) -> dict[str, Any]:
    hosts = story.fleet(int(ready["hosts"]))
    names = {h.name for h in hosts}
    return {
        "opsdash": {"retention": "2d"},  # the default 20 handshakes at once: 50 held the loop 90-130 ms at 5000 hosts
        "defaults": {
            "interval": "5s",
            "timeout": "5s",
            "patches_interval": "30s",
            "host_key_policy": "strict",
            "known_hosts": str(d / KNOWN_HOSTS),
            "ssh_config": str(d / "no-ssh-config"),
            "identity_file": str(d / CLIENT_KEY),
        },
        "hosts": [_host(h, d, int(ready["ssh_port"])) for h in hosts],
        "endpoints": [_endpoint(e, int(ready["http_port"]), names) for e in story.ENDPOINTS],
        **_checks(d, ready),
        "rules": RULES,
    }


def _checks(d: Path, ready: dict[str, Any]) -> dict[str, Any]:
    """[[dns]] and [[journeys]] against the fleet's DNS server and shop (demo/checks.py);
    a fleet from before they existed (no ports in its ready file) gets none."""
    if "dns_port" not in ready or "shop_port" not in ready:
        return {}
    server = f"127.0.0.1:{ready['dns_port']}"
    shop = f"http://127.0.0.1:{ready['shop_port']}"
    secret = d / "synthetic.pass"
    secret.write_text(checks.PASSWORD + "\n")
    secret.chmod(0o600)
    dns = [{"name": name.split(".")[0], "query": name, "type": "A", "expect": list(values), "server": server,
            "interval": "10s", "timeout": "2s"} for name, values in story.DNS_RECORDS.items()]
    steps = [
        {"name": "login", "method": "POST", "url": f"{shop}/login",
         "form": {"user": "synthetic", "password_file": str(secret)}, "expect_status": [302]},
        {"name": "cart", "url": f"{shop}/cart", "expect_body": "Your cart", "extract": {"cart_id": "json:$.id"}},
        {"name": "checkout", "method": "POST", "url": f"{shop}/checkout/{{cart_id}}",
         "expect_json": {"$.status": "ok"}},
    ]
    return {"dns": dns, "journeys": [{"name": "checkout", "interval": "15s", "timeout": "10s", "steps": steps}]}


def write_config(d: Path, ready: dict[str, Any]) -> Path:
    """known_hosts for the fleet's host key on its port, and config.toml; returns the config's path."""
    pub = (d / f"{HOST_KEY}.pub").read_text().split()
    (d / KNOWN_HOSTS).write_text(f"[127.0.0.1]:{ready['ssh_port']} {pub[0]} {pub[1]}\n")
    path = d / CONFIG
    text = "# Written by `opsdash demo` for its simulated fleet; safe to delete.\n" + tomli_w.dumps(config_doc(d, ready))
    path.write_text(text)
    return path
