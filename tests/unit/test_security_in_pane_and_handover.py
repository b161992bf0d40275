"""The security probe's row shows in the Patches pane's Security column and in the handover."""

from __future__ import annotations

from pathlib import Path

from opsdash.kinds.security import SecurityStatus
from opsdash.report.handover import handover, to_markdown
from opsdash.store import Store
from opsdash.ui import data

NOW = 1_800_000_000.0
PATCHES = {"manager": "apt", "pending": 0, "security": 0, "reboot_required": False, "packages": []}


def _store(path: Path) -> None:
    weak = SecurityStatus(unexpected=("8080/tcp (python3)",), weak=("passwordauthentication yes",),
                          failed_logins_per_h=3, firewall="", extra_uid0=(), sudoers_changed=False,
                          days_since_update=1.0, errors=("nft list ruleset: permission denied (not as this user, "
                                                        "and sudo -n not allowed)",))
    good = SecurityStatus(unexpected=(), weak=(), failed_logins_per_h=0, firewall="nftables", extra_uid0=(),
                          sudoers_changed=False, days_since_update=2.0)
    with Store(path) as s:
        for host, st in (("web-1", weak), ("web-2", good)):
            s.put_latest("patches", host, "", NOW - 60, {"patches": PATCHES, "error": None, "t": NOW - 60, "interval": 3600})
            s.put_latest("security", host, "", NOW - 60, {"security": st.to_json(), "error": None, "t": NOW - 60,
                                                          "interval": 3600})


def test_the_patches_pane_says_how_many_security_figures_are_past_their_rules(tmp_path: Path) -> None:
    _store(tmp_path / "s.sqlite")
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        snap = data.load_snapshot(store, NOW, data.SparkCache())
    rows = {r.ref.target: r for r in data.build_view(snap).rows["patches"]}
    col = [c[0] for c in data.COLUMNS["patches"]].index("secur")
    assert rows["web-1"].cells[col][0] == "3 issues"  # listeners, sshd, no firewall
    assert rows["web-2"].cells[col][0] == "ok"
    assert rows["web-1"].level > rows["web-2"].level


def test_the_handover_lists_findings_and_the_check_that_could_not_run(tmp_path: Path) -> None:
    _store(tmp_path / "s.sqlite")
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        r = handover(store, None, since=8 * 3600, now=NOW)
    assert [h["host"] for h in r["security"]] == ["web-1"]
    text = to_markdown(r)
    assert "## Security: findings or checks that could not run (1)" in text
    assert "sshd: passwordauthentication yes" in text and "nft list ruleset: permission denied" in text
