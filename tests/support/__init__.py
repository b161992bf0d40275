"""Helpers shared by the test suites (unit/, integration/, ui/): servers, fixtures' builders, pilot helpers."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
