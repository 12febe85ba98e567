"""Score links opened, shared by every web process on the database (see web/scanner.py).

One row per GET or HEAD of a score link; a burst is "another score of the same survey opened
within the window". Rows of a survey older than the window are dropped when it is opened
again, and every PRUNE_EVERY openings a process drops everyone's old rows.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Table, bindparam, delete, exists, select

from closedloop.daemon.store.records import to_db
from closedloop.daemon.store.tables import Base

LINK_OPENS: Table = Base.metadata.tables["link_opens"]
PRUNE_EVERY = 500


class LinkOpensMixin:
    engine: Engine

    def note_link_open(self, send_id: int, score: int, now: datetime,
                       window: timedelta) -> None:
        """Record that a score link of this survey was fetched; forget what is past `window`."""
        with self.engine.begin() as conn:
            note_link_open_in(conn, send_id, score, now, window)

    def other_link_opened(self, send_id: int, score: int, now: datetime,
                          window: timedelta) -> bool:
        """Whether a link for another score of this survey was opened at most `window` ago."""
        with self.engine.connect() as conn:
            return other_link_opened_in(conn, send_id, score, now, window)


_opens_counter = itertools.count(1)


def note_link_open_in(conn: Connection, send_id: int, score: int, now: datetime,
                      window: timedelta) -> None:
    """`note_link_open` inside the caller's transaction (the web app's group commit)."""
    old = to_db(now - window)
    if next(_opens_counter) % PRUNE_EVERY == 0:
        conn.execute(delete(LINK_OPENS).where(LINK_OPENS.c.opened_at < old))
    else:
        conn.execute(delete(LINK_OPENS).where(LINK_OPENS.c.send_id == send_id,
                                              LINK_OPENS.c.opened_at < old))
    conn.execute(LINK_OPENS.insert().values(send_id=send_id, score=score,
                                            opened_at=to_db(now)))


def note_link_opens_in(conn: Connection, opens: list[tuple[int, int, datetime, timedelta]]
                       ) -> list[None]:
    """`note_link_open_in` for many openings at once (the group commit's batch)."""
    for _, _, now, window in opens:  # every PRUNE_EVERY openings: everyone's old rows
        if next(_opens_counter) % PRUNE_EVERY == 0:
            conn.execute(delete(LINK_OPENS).where(LINK_OPENS.c.opened_at < to_db(now - window)))
    conn.execute(_STALE_OF_SURVEY, [{"p_send_id": send_id, "p_old": to_db(now - window)}
                                    for send_id, _, now, window in opens])
    conn.execute(LINK_OPENS.insert(), [{"send_id": send_id, "score": score,
                                        "opened_at": to_db(now)}
                                       for send_id, score, now, _ in opens])
    return [None] * len(opens)


def other_link_opened_in(conn: Connection, send_id: int, score: int, now: datetime,
                         window: timedelta) -> bool:
    return bool(conn.scalar(_OTHER_OPENED, {"p_send_id": send_id, "p_score": score,
                                            "p_since": to_db(now - window)}))


_STALE_OF_SURVEY = delete(LINK_OPENS).where(
    LINK_OPENS.c.send_id == bindparam("p_send_id"),
    LINK_OPENS.c.opened_at < bindparam("p_old", type_=LINK_OPENS.c.opened_at.type))
_OTHER_OPENED = select(exists().where(
    LINK_OPENS.c.send_id == bindparam("p_send_id"), LINK_OPENS.c.score != bindparam("p_score"),
    LINK_OPENS.c.opened_at >= bindparam("p_since", type_=LINK_OPENS.c.opened_at.type)))
