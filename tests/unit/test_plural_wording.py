"""Counts read as English: "1 host needs", "2 hosts need", "1 silence ends"."""

from __future__ import annotations

from opsdash.report.handover import _summary


def report(n: int) -> dict:
    return {
        "since": "08:00", "until": "16:00", "window_s": 8 * 3600.0,
        "counts": {"fired": n, "fired_critical": 0, "resolved": 0, "open": 0, "open_acked": 0, "open_silenced": 0},
        "open_alerts": [], "silences_expiring": [{}] * n, "patches": [{}] * n, "backups": [],
        "slo_breaches": [], "notes": [],
    }


def test_one_of_each_is_singular() -> None:
    s = _summary(report(1))
    assert "1 alert fired" in s and "1 silence ends within 12h" in s and "1 host needs security updates" in s


def test_two_of_each_is_plural() -> None:
    s = _summary(report(2))
    assert "2 alerts fired" in s and "2 silences end within 12h" in s and "2 hosts need security updates" in s


def test_the_noise_report_counts_one_page_and_one_rule_in_the_singular() -> None:
    from opsdash.report.noise import to_markdown

    totals = {"rules": 1, "pages": 1, "pages_per_day": 0.1, "pages_per_shift": 0.0, "unacked": 0}
    text = to_markdown({"since": "a", "until": "b", "shift_s": 8 * 3600.0, "totals": totals, "rules": []})
    assert "1 rule, 1 page:" in text
