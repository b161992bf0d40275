"""Untrusted text made safe for one line of Markdown, for every report (handover, escalation, SLA ...).

Its own module so that reports which handover.py itself includes (sla.py) can use it
without a circle of imports."""

from __future__ import annotations

import re

from ..textsafe import clean

__all__ = ["md"]

_MD = re.compile(r"([\\|*_`\[\]<>])")


def md(value: object, limit: int | None = 300) -> str:
    """Untrusted text made safe for one line of Markdown (and a table cell)."""
    return _MD.sub(r"\\\1", clean(value, limit=limit))
