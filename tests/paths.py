"""Paths the tests need, all relative to this checkout (never an absolute path)."""

from __future__ import annotations

from pathlib import Path

# The repository root: tests/ is one level below it, wherever the checkout is.
ROOT = Path(__file__).resolve().parent.parent

# PagerDuty's OpenAPI specs live beside the checkout, in ../shared/pagerduty/.
PAGERDUTY_SPECS = ROOT.parent / "shared" / "pagerduty"
