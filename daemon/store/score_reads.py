"""One round trip per score page on PostgreSQL, where the score links opened are shared.

The landing page read the send, noted the opening (a write through the group commit) and
then asked whether another score of the survey was opened within the window: three trips
to the server and two thread hops per page, the page's whole cost on a network database.
These statements do each page's store work in one:

- `OPEN_AND_READ` (GET): the send (its `PageSend` columns); the opening noted and the
  survey's stale openings dropped, only when the send exists and its program has the score
  on its scale (the page is shown); whether another score was opened since `since` (the
  statement's snapshot: its own insert is not seen, and another score is what counts);
- `READ_WITH_BURST` (POST): the send and the same burst question.

Run on a connection in autocommit with `synchronous_commit` off: an opening is a note that
may be lost (web/scanner.py), not an answer. `PRUNE` drops everyone's stale openings now
and then, as link_opens.py does. The pages' statements run in batches, each batch one
transaction (web/async_reads.py): a stale opening is dropped only if no other transaction
holds it (SKIP LOCKED; one that does is dropping it), so no batch ever waits for another's
locks and two cannot deadlock (their inserts take no lock anyone waits for).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class PageSend:
    """A send as the score pages read it: what they record by (id), check (program) and
    speak (language), and the two other fields the answer pages' `SendView` names (first
    name, time zone: none of the score pages shows them today). The other 30 columns,
    decoded and made a SendRecord, were ~13 µs of a ~220-µs page."""

    id: int
    program: str
    language: str | None
    first_name: str | None
    timezone: str | None


PAGE_COLUMNS = tuple(f.name for f in fields(PageSend))
PRUNE_EVERY = 500
_COLUMNS = ", ".join(f'"{name}"' for name in PAGE_COLUMNS)
_BURST = ("EXISTS (SELECT 1 FROM link_opens WHERE send_id = %(send_id)s "
          "AND score <> %(score)s AND opened_at >= %(since)s)")
_SHOWN = "SELECT 1 FROM send WHERE program = ANY(%(programs)s)"

# Column names come from PageSend's fields (a test holds them to `sends`); every value is bound.
OPEN_AND_READ = (
    f"WITH send AS (SELECT {_COLUMNS} FROM sends WHERE id = %(send_id)s), "  # noqa: S608
    "noted AS (INSERT INTO link_opens (send_id, score, opened_at) "
    "SELECT id, %(score)s, %(now)s FROM send WHERE program = ANY(%(programs)s)), "
    "stale AS (DELETE FROM link_opens WHERE id IN (SELECT id FROM link_opens "
    "WHERE send_id = %(send_id)s AND opened_at < %(since)s "
    f"AND EXISTS ({_SHOWN}) FOR UPDATE SKIP LOCKED)) "
    f"SELECT send.*, {_BURST} FROM send"
)
READ_WITH_BURST = f"SELECT {_COLUMNS}, {_BURST} FROM sends WHERE id = %(send_id)s"  # noqa: S608
PRUNE = ("DELETE FROM link_opens WHERE id IN (SELECT id FROM link_opens "
         "WHERE opened_at < %(since)s FOR UPDATE SKIP LOCKED)")
