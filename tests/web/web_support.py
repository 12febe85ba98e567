"""What the response-app tests share (a module of its own: `conftest` names clash across test
folders): the app's frozen clock, the fixtures' callable types, reading a page's heading, one
survey to answer, counting PostgreSQL's client connections."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import psycopg
from sqlalchemy import text

from closedloop.daemon.store import NewSend, Store

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the app's clock (conftest's `now`)
AddSend = Callable[..., int]
ServeWith = Callable[..., AbstractContextManager[httpx.Client]]


def heading(page: httpx.Response) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page.text, flags=re.DOTALL)
    assert match is not None, page.text
    return match.group(1).strip()


def one_send(store: Store) -> int:
    """One NPS survey (idem key k1) queued for contact c1; its id."""
    store.add_sends([NewSend(idem_key="k1", program="nps", survey_type="nps", source="hubspot",
                             contact_id="c1", due_at=NOW, created_at=NOW,
                             email="p1@example.test")])
    with store.engine.connect() as conn:
        return int(conn.scalar(text("SELECT max(id) FROM sends")))


def client_backends() -> int:
    """Client connections to the PostgreSQL test database now, this one left out."""
    with psycopg.connect(os.environ["CLOSEDLOOP_TEST_PG_URL"]) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                           " current_database() AND pid <> pg_backend_pid()"
                           " AND backend_type = 'client backend'").fetchone()
        return int(row[0]) if row else 0


def on_a_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on a fresh event loop in its own thread (this thread may hold a running
    loop: the browser tests' Playwright)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()


def migrated(url: str) -> Iterator[Store]:
    """A migrated store at `url`, disposed after the test (the store fixtures' body)."""
    store = Store(url)
    store.migrate()
    yield store
    store.dispose()
