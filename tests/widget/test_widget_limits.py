"""The widget's rate limiter: per-key buckets, both sides of the burst and refill edges, and
idle keys forgotten (a stream of new addresses cannot grow memory without bound)."""

from __future__ import annotations

from widget_support import FakeMonotonic

from closedloop.daemon.web.widget.limits import PRUNE_EVERY, Buckets


def test_burst_then_refill_both_sides() -> None:
    """Burst 2 at 0.5/s: two pass, the third waits 2 s. Two keys drained alike at 0 s: at
    1.99 s one is still refused, at 2 s the other passes. Another key has its own bucket."""
    ticks = FakeMonotonic()
    buckets = Buckets(rate=0.5, burst=2.0, clock=ticks)
    assert [buckets.take("a"), buckets.take("a"), buckets.take("c"), buckets.take("c")] \
        == [0.0] * 4
    assert buckets.take("a") == 2.0
    assert buckets.take("b") == 0.0
    ticks.seconds = 1.99
    assert buckets.take("a") > 0.0
    ticks.seconds = 2.0
    assert buckets.take("c") == 0.0
    assert Buckets.retry_after(0.01) == "1"
    assert Buckets.retry_after(2.0) == "2"


def test_idle_keys_are_forgotten() -> None:
    """After PRUNE_EVERY takes, keys idle for a full refill are dropped; busy ones stay."""
    ticks = FakeMonotonic()
    buckets = Buckets(rate=1.0, burst=10.0, clock=ticks)
    for n in range(PRUNE_EVERY - 1):
        buckets.take(f"visitor-{n}")
    ticks.seconds = 10.0  # every bucket is full again
    buckets.take("fresh")
    assert len(buckets) == 1
