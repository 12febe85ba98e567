"""The closed-tickets cursor stays bounded and stores what it always stored, at any density.

Pruning happens when the cursor is stored (once a page) or when twice the cap has piled up,
no longer at every ticket (which sorted 2,000 entries per ticket of a dense backlog)."""

from __future__ import annotations

import json

from closedloop.integration.hubspot._cursor import _MAX_RECENT, SearchCursor

OVERLAP = 300_000  # 5 minutes


def stored_recent(cursor: SearchCursor) -> dict[str, int]:
    return dict(json.loads(cursor.dumps())["recent"])


def test_stored_cursor_keeps_the_newest_within_the_overlap_at_most_the_cap() -> None:
    """10,000 tickets 10 ms apart (dense): the stored cursor holds exactly the newest
    _MAX_RECENT of them, all within the overlap, and never more than twice the cap."""
    cursor = SearchCursor(0)
    largest = 0
    for i in range(10_000):
        cursor.advance(str(i), 1_000_000 + 10 * i, OVERLAP)
        largest = max(largest, len(cursor.recent))
    expected = {str(i): 1_000_000 + 10 * i for i in range(10_000 - _MAX_RECENT, 10_000)}
    assert expected == stored_recent(cursor)
    assert largest <= 2 * _MAX_RECENT


def test_stored_cursor_forgets_what_fell_out_of_the_overlap() -> None:
    """Sparse tickets: the ones older than watermark - overlap are not stored; the one at
    exactly the horizon is (both sides of the edge)."""
    cursor = SearchCursor(0)
    cursor.advance("old", 1_000_000 - 1, OVERLAP)
    cursor.advance("edge", 1_000_000, OVERLAP)
    cursor.advance("new", 1_000_000 + OVERLAP, OVERLAP)
    assert stored_recent(cursor) == {"edge": 1_000_000, "new": 1_000_000 + OVERLAP}
    assert SearchCursor.loads(cursor.dumps()).yielded("edge", 1_000_000)
    assert not SearchCursor.loads(cursor.dumps()).yielded("old", 1_000_000 - 1)
