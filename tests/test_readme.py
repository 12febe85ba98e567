"""The README a new admin follows alone: nothing in it points outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = re.compile(r"https?://(127\.0\.0\.1|localhost)[:/]")


def outside_links(text: str) -> list[str]:
    """http(s) URLs to other hosts, and relative paths that climb out of the repository."""
    urls = [u for u in re.findall(r"https?://[^\s)`'\"<>]+", text) if not LOCAL.match(u)]
    return urls + re.findall(r"\.\./[\w./-]+", text)


def test_readme_links_stay_inside_the_repository() -> None:
    """Only loopback URLs (the sandboxes, the local daemon) and repository paths."""
    assert outside_links((ROOT / "README.md").read_text(encoding="utf-8")) == []


def test_an_outside_link_would_be_found() -> None:
    """The other side: an external URL and a path above the repository are both reported."""
    text = "See https://example.com/docs and `../shared/DESIGN.md`; run http://127.0.0.1:8021/x."
    assert outside_links(text) == ["https://example.com/docs", "../shared/DESIGN.md"]
