"""`opsdash init`: write a starter config (never overwrites one).

`opsdash init --systemd` prints a hardened systemd unit for `opsdash collect`
instead (writes nothing): the paths resolved now (this opsdash, the config, the
store), the store's directory the only place it may write.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import shutil
import sys
from pathlib import Path

from ..config import STARTER_CONFIG
from ..errors import OpsdashError
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="write a starter config file (or print a systemd unit)")
    p.add_argument("--systemd", action="store_true",
                   help="print a hardened systemd unit for `opsdash collect` instead (writes nothing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "systemd", False):
        sys.stdout.write(systemd_unit(args))
        return 0
    path = _common.config_path(args)
    if path.exists():
        # Not a config mistake (exit 3 and "command line: --config:"): a refusal, exit 1.
        raise OpsdashError(f"{path} exists; not overwriting it (check it with `opsdash check-config`)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER_CONFIG)
    print(f"wrote {path}; check it with `opsdash check-config`")
    return 0


def _opsdash_command() -> list[str]:
    """How systemd should start this opsdash: its console script beside this Python (a venv's
    bin/), else the one on PATH, else this Python with -m opsdash."""
    beside = Path(sys.executable).parent / "opsdash"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("opsdash")
    if found:
        return [str(Path(found).resolve())]
    return [str(Path(sys.executable).resolve()), "-m", "opsdash"]


def _quote(arg: str) -> str:
    # systemd's ExecStart splits like a shell for quotes, and expands % and $: escape those.
    arg = arg.replace("%", "%%").replace("$", "$$")
    return shlex.quote(arg) if any(c in arg for c in " \t\"'\\;") else arg


def systemd_unit(args: argparse.Namespace) -> str:
    config = _common.config_path(args).expanduser().resolve()
    store = _common.store_path(args).expanduser().resolve()
    cmd = _opsdash_command() + ["collect", "--config", str(config), "--store", str(store)]
    writable = [store.parent]
    # A host on host_key_policy "accept-new" records new keys in its known_hosts file.
    try:
        cfg = _common.load(args, required=True)
        for h in cfg.hosts:
            if h.host_key_policy == "accept-new":
                kh = Path(h.known_hosts).expanduser().resolve().parent
                if kh not in writable:
                    writable.append(kh)
    except OpsdashError:
        cfg = None  # no config yet: the unit is still right for the paths given
    user = getpass.getuser()
    lines = [
        "# opsdash collector: `opsdash init --systemd > /etc/systemd/system/opsdash-collect.service`,",
        "# then `systemctl daemon-reload && systemctl enable --now opsdash-collect`.",
        "[Unit]",
        "Description=opsdash collector (polls the fleet, writes the store, sends notifications)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={user}",
        f"ExecStart={' '.join(_quote(a) for a in cmd)}",
        "Restart=on-failure",
        "RestartSec=5s",
        # SIGTERM: the collector finishes its current write and exits 0.
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30s",
        "",
        "# Hardening: it reads the config and SSH keys, and writes only the store's directory.",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=",
        "UMask=0077",
        f"ReadWritePaths={' '.join(_quote(str(p)) for p in writable)}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    if any(p == Path(t) or Path(t) in p.parents for p in writable for t in ("/tmp", "/var/tmp")):
        # PrivateTmp gives the service a /tmp of its own: a store there would be another, empty one.
        lines.insert(lines.index("[Install]") - 1, "# WARNING: the store is under /tmp or /var/tmp, which PrivateTmp=yes "
                     "hides from the service; move it (--store) before installing this unit.")
    return "\n".join(lines) + "\n"
