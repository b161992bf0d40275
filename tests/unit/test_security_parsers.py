"""The security kind's parsers, on output captured from the real tools here."""

from __future__ import annotations

from opsdash.kinds import security
from opsdash.parsers.authlog import failed_logins
from opsdash.parsers.ss import parse_ss
from opsdash.parsers.sshd_config import parse_sshd_t, weak_settings
from tests.support import FIXTURES

FIX = FIXTURES / "security"


def test_ss_reads_tcp_udp_and_v6_listeners_with_their_process() -> None:
    ls = parse_ss((FIX / "ss_tulpnH.txt").read_text())
    keys = {(x.key, x.address, x.process) for x in ls}
    assert ("38757/udp", "127.0.0.1", "python3") in keys
    assert ("42585/tcp", "::1", "python3") in keys
    assert ("2024/tcp", "0.0.0.0", "") in keys  # a socket ss could not name a process for


def test_sshd_t_names_the_weak_settings_of_the_debian_default() -> None:
    s = parse_sshd_t((FIX / "sshd_T.txt").read_text())
    assert weak_settings(s) == ["passwordauthentication yes", "x11forwarding yes"]


def test_failed_logins_counts_each_attempt_once_in_the_last_hour() -> None:
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    text = "\n".join([
        "2027-01-15T07:59:00.123+00:00 h sshd[10]: Invalid user bob from 127.0.0.1 port 1",
        "2027-01-15T07:59:01.123+00:00 h sshd[10]: Failed password for invalid user bob from 127.0.0.1 port 1 ssh2",
        "2027-01-15T07:59:02.123+00:00 h sshd[10]: Failed password for invalid user bob from 127.0.0.1 port 1 ssh2",
        "2027-01-15T07:30:00+0000 h sshd[11]: Connection closed by authenticating user root 127.0.0.1 port 2 [preauth]",
        "Jan 15 07:10:00 h sshd[12]: Failed password for root from 127.0.0.1 port 3 ssh2",
        "Jan 15 06:10:00 h sshd[13]: Failed password for root from 127.0.0.1 port 4 ssh2",  # over an hour ago
        "2027-01-15T07:59:03+00:00 h sshd[14]: Accepted publickey for root from 127.0.0.1 port 5 ssh2",
    ])
    assert failed_logins(text, now=now) == 4


def test_an_empty_ruleset_is_no_firewall_and_a_table_is_nftables() -> None:
    class S:
        def __init__(self, out: str, rc: int = 0, err: str = ""):
            self.out, self.rc, self.err = out, rc, err

    base = {"now": S("1800000000\n"), "tz": S("+0000\n"), "uid0": S("root\ntoor\n")}
    empty = security.read(security.SecurityConfig(), {**base, "nft": S((FIX / "nft_empty.txt").read_text())})
    assert empty.firewall == "" and "no firewall" in empty.issues
    assert empty.extra_uid0 == ("toor",)
    rules = security.read(security.SecurityConfig(), {**base, "nft": S((FIX / "nft_rules.txt").read_text())})
    assert rules.firewall == "nftables"


def test_a_denied_command_is_one_line_naming_it_and_the_rest_still_reads() -> None:
    class S:
        def __init__(self, out: str, rc: int = 0, err: str = ""):
            self.out, self.rc, self.err = out, rc, err

    st = security.read(security.SecurityConfig(), {
        "now": S("1800000000\n"), "tz": S("+0000\n"), "uid0": S("root\n"),
        "nft": S("", 1, "netlink: Error: cache initialization failed: Operation not permitted\n"
                        "sudo -n: sudo: a password is required\n"),
        "sshd": S((FIX / "sshd_T.txt").read_text()),
    })
    assert st.errors == ("nft list ruleset: permission denied (not as this user, and sudo -n not allowed)",)
    assert st.firewall is None and st.weak == ("passwordauthentication yes", "x11forwarding yes")
    assert st.extra_uid0 == ()
