"""Shared fixtures: `store` runs a test on SQLite and on PostgreSQL; `pg_url`; `playwright`.

PostgreSQL comes from CLOSEDLOOP_TEST_PG_URL (start one with `eval "$(bash .ci/postgres.sh)"`).
Unset, the PostgreSQL cases are skipped locally but fail on CI (CI=true), so CI can never pass
with PostgreSQL silently untested. Each test session works in its own schema, so runs on a
shared server do not collide.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from browser_support import CHROMIUM, missing_browser
from hypothesis import settings
from sqlalchemy import text

from closedloop.daemon.store import Store

PG_ENV = "CLOSEDLOOP_TEST_PG_URL"

# Property tests draw the same examples on every run ("fixed"), so the suite passes or fails
# on the code alone (a draw of CI's once found a real defect, and failed a CI that changed
# nothing near it). HYPOTHESIS_PROFILE=explore draws new ones each run: run it when you
# touch what they cover (mail composition, transfer encodings, tokens, comments).
settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))
_TABLES = ("cursors, sends, responses, writebacks, suppressions, ledger, members, "
           "alert_deliveries, alert_state, events, webhook_deliveries, follow_ups, "
           "source_health, job_locks, link_opens, hook_events, notified_tickets, "
           "response_themes, report_facts, report_rollups, report_scopes, admin_users, "
           "admin_sessions, admin_login_failures, theme_facts, theme_rollups, sms_messages, "
           "sms_replies, widget_dismissals")


def _pg_server_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if url:
        return url
    hint = f'{PG_ENV} is not set; run: eval "$(bash .ci/postgres.sh)"'
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"PostgreSQL tests cannot be skipped on CI: {hint}", pytrace=False)
    pytest.skip(hint)


def _with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of an empty PostgreSQL schema private to this test (dropped afterwards)."""
    server = _pg_server_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _with_search_path(server, schema)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def _pg_session_store() -> Iterator[Store]:
    """One migrated schema for the whole session; tests get it truncated (fast)."""
    server = _pg_server_url()
    schema = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    store = Store(_with_search_path(server, schema))
    try:
        store.migrate()
        yield store
    finally:
        store.dispose()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store: a fresh SQLite file, or the session's PostgreSQL schema."""
    if request.param == "sqlite":
        sqlite_store = Store(f"sqlite:///{tmp_path / 'state.db'}")
        sqlite_store.migrate()
        yield sqlite_store
        sqlite_store.dispose()
        return
    pg_store: Store = request.getfixturevalue("_pg_session_store")
    with pg_store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    yield pg_store



@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """Playwright's driver, once per session: its sync API cannot be started twice in one
    process (typed loosely: playwright is a test extra, and an import error must become a
    skip, not a collection error)."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        missing_browser(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set "
                        "CLOSEDLOOP_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as driver:
        yield driver
