"""The dashboard over real HTTP (uvicorn on 127.0.0.1) on a real store, SQLite and
PostgreSQL: what each role sees, scope escapes by URL, CSV and JSON refused (403, logged),
CSRF on every POST, logout and tampered cookies, and bad query strings as 400 pages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from structlog.testing import capture_logs

from admin.admin_support import (
    EXPECTED_ANSWERS,
    EXPECTED_NPS,
    NOW,
    PASSWORD,
    SETTINGS,
    config_users,
    csrf_of,
    seed_stores,
    serve,
    sign_in,
)
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts

STORES_OF = {"hq": {"oslo", "bergen", "stavanger"}, "north": {"oslo", "bergen"},
             "oslo": {"oslo"}}


@pytest.fixture
def seeded(store: Store) -> dict[str, list[int]]:
    return seed_stores(store)


@pytest.fixture
def base_url(store: Store, seeded: dict[str, list[int]]) -> Iterator[str]:
    with serve(store) as url:
        yield url


@contextmanager
def client_for(base_url: str, name: str | None = None) -> Iterator[httpx.Client]:
    """A client, signed in as `name` if given."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        if name is not None:
            answer = sign_in(client, name)
            assert (answer.status_code, answer.headers["location"]) == (303, "/admin/")
        yield client


def figure(html: str, name: str) -> str:
    found = re.search(rf'id="total-{name}">([^<]*)<', html)
    assert found, f"no {name} on the page"
    return found.group(1)


@pytest.mark.parametrize("user", ["hq", "north", "oslo"])
def test_each_role_sees_its_own_numbers(base_url: str, user: str) -> None:
    """HQ sees all 9 answers (NPS 22), north its two stores (6, NPS 0), oslo its store (4,
    NPS 50): on the page, in the segment table, the JSON and the CSV behind them."""
    with client_for(base_url, user) as client:
        page = client.get("/admin/")
        assert (page.status_code, figure(page.text, "score"), figure(page.text, "answers")) == (
            200, EXPECTED_NPS[user], EXPECTED_ANSWERS[user])
        table = client.get("/admin/data/segments.json", params={"segment": "store"}).json()
        assert {r["store"] for r in table["rows"]} == STORES_OF[user]
        rows = list(csv.DictReader(io.StringIO(
            client.get("/admin/export/segments.csv", params={"segment": "store"}).text)))
        assert {r["store"] for r in rows} == STORES_OF[user]
        comments = client.get("/admin/data/comments.json").json()["rows"]
        assert {c["segments"].split("store=")[1] for c in comments} <= STORES_OF[user]


@pytest.mark.parametrize("path", ["/admin/", "/admin/segments", "/admin/comments",
                                  "/admin/data/trend.json", "/admin/data/comments.json",
                                  "/admin/export/comments.csv", "/admin/export/segments.csv"])
def test_a_store_user_cannot_name_another_store(base_url: str, path: str) -> None:
    """?store=bergen for the oslo manager: 403 on the page, the JSON and the CSV, and a
    warning naming the user; ?region=south (not their region) too."""
    with client_for(base_url, "oslo") as client, capture_logs() as logs:
        answer = client.get(path, params={"store": "bergen"})
        other_region = client.get(path, params={"region": "south"})
    assert (answer.status_code, other_region.status_code) == (403, 403)
    assert "You may not see store &#39;bergen&#39;." in answer.text
    assert "Rude staff" not in answer.text
    escapes = [e for e in logs if e["event"] == "admin.scope_escape"]
    assert [(e["user"], e["segment"], e["value"]) for e in escapes] == [
        ("oslo", "store", "bergen"), ("oslo", "region", "south")]


def test_a_region_user_cannot_name_a_store_of_another_region(base_url: str) -> None:
    """The north manager may filter on oslo (theirs) but not on stavanger (south)."""
    with client_for(base_url, "north") as client:
        mine = client.get("/admin/data/trend.json", params={"store": "oslo"})
        theirs = client.get("/admin/data/trend.json", params={"store": "stavanger"})
    assert (mine.status_code, theirs.status_code) == (200, 403)
    assert sum(r["answers"] for r in mine.json()["rows"]) == 4


def test_drill_down_is_scoped(base_url: str, seeded: dict[str, list[int]]) -> None:
    """The oslo manager opens an oslo answer (its segments and the CRM link shown) but gets
    403 for a bergen one; an id with no answer is 404."""
    with client_for(base_url, "oslo") as client:
        own = client.get(f"/admin/answers/{seeded['oslo'][3]}")
        other = client.get(f"/admin/answers/{seeded['bergen'][0]}")
        missing = client.get("/admin/answers/999999")
    assert (own.status_code, other.status_code, missing.status_code) == (200, 403, 404)
    assert "Slow delivery from Oslo" in own.text
    assert f'href="https://crm.example/hubspot/t{seeded["oslo"][3]}"' in own.text
    assert "<dt>store</dt><dd>oslo</dd>" in own.text
    assert "Rude staff" not in other.text


def test_post_without_or_with_a_wrong_csrf_token_is_refused(base_url: str) -> None:
    """Logout and sign-in POSTs without the form's token, or with another, are 403 and do
    nothing (the session still works); with the token, logout works."""
    with client_for(base_url, "hq") as client:
        page = client.get("/admin/")
        assert client.post("/admin/logout", data={}).status_code == 403
        assert client.post("/admin/logout", data={"csrf": "forged"}).status_code == 403
        assert client.get("/admin/").status_code == 200
        assert client.post("/admin/logout", data={"csrf": csrf_of(page.text)}
                           ).status_code == 303
    with client_for(base_url) as anonymous:
        anonymous.get("/admin/login")
        refused = anonymous.post("/admin/login", data={"name": "hq", "password": PASSWORD,
                                                       "csrf": "forged"})
        no_cookie = httpx.post(f"{base_url}/admin/login",
                               data={"name": "hq", "password": PASSWORD, "csrf": "x"})
    assert (refused.status_code, no_cookie.status_code) == (403, 403)


def test_logout_revokes_the_session(base_url: str) -> None:
    """After logout the old cookie, replayed, leads to the sign-in page, not the data."""
    with client_for(base_url, "hq") as client:
        cookie = client.cookies["cl_admin_session"]
        page = client.get("/admin/")
        client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    replay = httpx.get(f"{base_url}/admin/data/trend.json",
                       cookies={"cl_admin_session": cookie})
    assert (replay.status_code, replay.headers["location"]) == (
        303, "/admin/login?next=%2Fadmin%2Fdata%2Ftrend.json")


def test_a_tampered_cookie_is_403_and_logged(base_url: str) -> None:
    """A session cookie changed by hand (signature off) is 403 with a warning."""
    with client_for(base_url, "oslo") as client:
        cookie = client.cookies["cl_admin_session"]
    session_id, _, signature = cookie.rpartition(".")
    tampered = session_id[:-1] + ("A" if session_id[-1] != "A" else "B") + "." + signature
    with capture_logs() as logs:
        answer = httpx.get(f"{base_url}/admin/", cookies={"cl_admin_session": tampered})
    assert answer.status_code == 403
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["admin.cookie_tampered"]


def test_wrong_password_then_lockout_over_http(base_url: str) -> None:
    """Four wrong passwords: 401 each; the fifth locks; then even the right one is 429.
    No log line holds the password."""
    with client_for(base_url) as client, capture_logs() as logs:
        codes = [sign_in(client, "north", "wrong password!").status_code for _ in range(5)]
        locked = sign_in(client, "north")
    assert codes == [401, 401, 401, 401, 401]
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert "wrong password!" not in json.dumps(logs, default=str)
    assert PASSWORD not in json.dumps(logs, default=str)


@pytest.mark.parametrize(("query", "message"), [
    ({"period": "year"}, "unknown period &#39;year&#39;; expected one of: day, week, month"),
    ({"colour": "red"}, "unknown segment &#39;colour&#39;"),
    ({"segment": "colour"}, "unknown segment &#39;colour&#39;"),
    ({"since": "2026-13-01"}, "since: expected a date as YYYY-MM-DD"),
    ({"since": "2026-11-20", "until": "2026-11-01"}, "the range starts (2026-11-20) after"),
    ({"period": "day", "since": "2020-01-01"}, "a day view covers at most 366 days"),
    ({"type": "xyz"}, "unknown type &#39;xyz&#39;"),
])
def test_bad_query_strings_are_400_pages(base_url: str, query: dict[str, str],
                                         message: str) -> None:
    """Each bad query string is a 400 page naming what is expected, never a 500."""
    with client_for(base_url, "hq") as client:
        answer = client.get("/admin/segments", params=query)
    assert answer.status_code == 400
    assert message in answer.text


def test_pages_carry_a_strict_csp_and_secure_cookie_flags(base_url: str) -> None:
    """No script allowed, styles only from the app; the session cookie is HttpOnly and
    SameSite=Strict, limited to /admin."""
    with client_for(base_url) as client:
        page = client.get("/admin/login")
        answer = client.post("/admin/login", data={"name": "hq", "password": PASSWORD,
                                                    "csrf": csrf_of(page.text)})
    csp = page.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'self'")
    assert "script-src" not in csp
    cookie = answer.headers["set-cookie"].lower()
    assert ("httponly" in cookie, "samesite=strict" in cookie, "path=/admin" in cookie) == (
        True, True, True)


def test_an_idle_session_ends(store: Store, seeded: dict[str, list[int]]) -> None:
    """31 minutes without a request: the next one goes to the sign-in page."""
    now = [NOW]
    with serve(store, clock=lambda: now[0]) as url, client_for(url, "hq") as client:
        assert client.get("/admin/").status_code == 200
        now[0] = NOW + timedelta(minutes=31)
        assert client.get("/admin/").status_code == 303




@pytest.mark.parametrize(("user", "shown", "hidden"), [
    ("hq", ["Rude staff in Bergen", "Slow delivery from Oslo"], []),
    ("oslo", ["Slow delivery from Oslo"], ["Rude staff in Bergen"]),
])
def test_themes_are_counted_under_the_scope(base_url: str, user: str, shown: list[str],
                                            hidden: list[str]) -> None:
    """The themes panel quotes only comments the user may see: HQ both stores' complaints,
    the oslo manager only Oslo's (the scope is in the themes query's WHERE clause)."""
    with client_for(base_url, user) as client:
        page = client.get("/admin/themes")
    assert page.status_code == 200
    assert 'id="theme-table"' in page.text
    assert [q for q in shown if q in page.text] == shown
    assert [q for q in hidden if q in page.text] == []


def test_cookies_are_secure_behind_https(store: Store, seeded: dict[str, list[int]]) -> None:
    """With an https public_url the dashboard's cookies carry Secure (checked on the sign-in
    form's, as a Secure cookie never comes back over the test's plain http); without, not."""
    flags = []
    for secure in (False, True):
        with serve(store, secure=secure) as url:
            form = httpx.get(f"{url}/admin/login")
            flags.append("; secure" in form.headers["set-cookie"].lower())
    assert flags == [False, True]


def test_expired_sessions_and_old_failures_are_pruned_at_sign_in(
        store: Store, seeded: dict[str, list[int]]) -> None:
    """A sign-in deletes sessions past their idle time and failures too old to lock."""
    accounts = Accounts(store, config_users(), SETTINGS.scope)
    accounts.open_session("old", "hq", "t", NOW - timedelta(hours=2))
    accounts.note_failure(["user:hq"], NOW - timedelta(hours=1))
    with serve(store) as url, client_for(url, "hq"):
        pass
    assert (accounts.session("old"), accounts.failures("user:hq", NOW - timedelta(days=1))
            ) == (None, [])
