"""Sampling is a deterministic hash: same inputs, same verdict; the share matches the percent."""

from __future__ import annotations

from closedloop.daemon.rules import sampled_in


def test_same_inputs_same_verdict() -> None:
    verdicts = {sampled_in("csat", "ada@example.com", "t-1", 50) for _ in range(20)}
    assert len(verdicts) == 1


def test_share_of_people_matches_the_percentage() -> None:
    """Over 10,000 tickets, 30 % are in the sample (± 1.5 points)."""
    inside = sum(sampled_in("csat", f"p{i}@example.com", f"t-{i}", 30) for i in range(10_000))
    assert 2850 <= inside <= 3150


def test_raising_the_percentage_only_adds_people() -> None:
    items = [(f"p{i}@example.com", f"t-{i}") for i in range(2000)]
    at_30 = {item for item in items if sampled_in("csat", *item, 30)}
    at_60 = {item for item in items if sampled_in("csat", *item, 60)}
    assert at_30 < at_60


def test_programs_sample_independently_and_100_takes_everyone() -> None:
    items = [(f"p{i}@example.com", f"t-{i}") for i in range(2000)]
    first = {item for item in items if sampled_in("csat", *item, 50)}
    second = {item for item in items if sampled_in("ces", *item, 50)}
    assert first != second
    assert all(sampled_in("csat", *item, 100) for item in items)
