"""``sshd -T``: the effective sshd settings, one ``keyword value`` a line, lower case.

``weak_settings`` names the ones that widen who can log in or what a session can
reach; a value sshd -T prints for them is compared as sshd itself spells it.
"""

from __future__ import annotations

from ..errors import ParseError

__all__ = ["WEAK", "parse_sshd_t", "weak_settings"]

# keyword -> the values that are fine; anything else is weak.
# permitrootlogin: "without-password" is sshd's old spelling of "prohibit-password".
WEAK: dict[str, tuple[str, ...]] = {
    "permitrootlogin": ("no", "prohibit-password", "without-password", "forced-commands-only"),
    "passwordauthentication": ("no",),
    "kbdinteractiveauthentication": ("no",),
    "x11forwarding": ("no",),
}


def parse_sshd_t(text: str) -> dict[str, str]:
    """Keyword -> value (the first, for repeated keywords). A warning line sshd prints
    before its settings (a deprecated option) is skipped; no setting at all is an error."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, _, v = line.strip().partition(" ")
        if k and k.isalnum() and k.islower():
            out.setdefault(k, v.strip())
    if "port" not in out and not any(k in out for k in WEAK):
        raise ParseError("sshd -T: no settings in its output", text.strip()[:120])
    return out


def weak_settings(settings: dict[str, str]) -> list[str]:
    """The weak ones, as "passwordauthentication yes", in WEAK's order."""
    return [f"{k} {settings[k]}" for k, ok in WEAK.items() if k in settings and settings[k].lower() not in ok]
