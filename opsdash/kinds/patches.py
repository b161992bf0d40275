"""Pending package updates (collect/patches.py runs apt, dnf, zypper, apk or pacman): their
metrics and built-in rules. The rest of the host's security posture is kinds/security.py."""

from __future__ import annotations

from .base import Attached, BuiltinRule, Metric

__all__ = ["ATTACHED", "METRICS", "RULES"]

DAY = 86400.0

METRICS: tuple[Metric, ...] = (
    Metric("patches.pending", "pending updates", "", "Package updates pending on the host.",
           prom="opsdash_patches_pending"),
    Metric("patches.security", "security updates", "", "Security updates pending on the host.",
           prom="opsdash_patches_security_pending"),
    Metric("patches.reboot_required", "reboot required", "bool",
           "1 when the host needs a reboot (reboot-required, needrestart).",
           ("reboot required", "no reboot required"), prom="opsdash_reboot_required"),
)

RULES: tuple[BuiltinRule, ...] = (
    # `for` 7 days is the rule: a pending security update is normal until the patch window.
    BuiltinRule("security-updates", "patches.security", warn=0, for_s=7 * DAY,
                description="security updates pending for more than 7 days",
                runbook="apt list --upgradable / dnf updateinfo list security; schedule the patch window"),
    BuiltinRule("reboot-required", "patches.reboot_required", warn=0.5,
                description="a reboot is required (kernel or core library updated)",
                runbook="cat /var/run/reboot-required.pkgs / needs-restarting -r; schedule a reboot"),
)

ATTACHED = Attached("patches", METRICS, RULES)
