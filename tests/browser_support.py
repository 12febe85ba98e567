"""What every browser test shares: where Chromium is and how it starts, and how a missing
browser is reported (skipped locally, failing on CI)."""

from __future__ import annotations

import os

import pytest

CHROMIUM = os.environ.get("CLOSEDLOOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def missing_browser(reason: str) -> None:
    """Skip a browser test locally; fail it on CI, so the pages are never silently untested."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"browser tests cannot be skipped on CI: {reason}", pytrace=False)
    pytest.skip(reason)


