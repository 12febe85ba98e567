"""Sampling by percentage, deterministic: the same program, person and ticket always decide alike.

A hash rather than a random draw, so a re-poll, a second replica or `closedloop plan` reach
the same verdict, and raising the percentage later only adds people (never swaps them).
"""

from __future__ import annotations

import hashlib

_BUCKETS = 10_000  # percent with two decimals


def sample_bucket(program: str, person: str, item: str) -> int:
    """A stable bucket in [0, 10000) for this program, person and ticket (or cycle)."""
    digest = hashlib.sha256(f"{program}\x1f{person}\x1f{item}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def sampled_in(program: str, person: str, item: str, percent: float) -> bool:
    """True when this survey is inside the program's sample (`percent` of 0..100)."""
    if percent >= 100:
        return True
    return sample_bucket(program, person, item) < round(percent * _BUCKETS / 100)
