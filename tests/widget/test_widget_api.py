"""The widget's JSON API over real HTTP (uvicorn) on a real store: identity, CORS, rate limit,
bad requests, and the survey decision (same rules and ledger as e-mail)."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from widget_support import (
    ANA,
    NOW,
    ORIGIN,
    POLICY,
    Clock,
    FakeMonotonic,
    People,
    identity,
    post,
    serve,
    site,
)

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import Base
from closedloop.daemon.surveys import Policy
from closedloop.daemon.web.widget.limits import Buckets

SENDS = Base.metadata.tables["sends"]
WRITEBACKS = Base.metadata.tables["writebacks"]
LEDGER = Base.metadata.tables["ledger"]
RESPONSES = Base.metadata.tables["responses"]


def _count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(table)).all())  # type: ignore[call-overload]


def _check(client: httpx.Client, **extra: object) -> httpx.Response:
    return post(client, "check", {**identity(), **extra})


# -- identity -----------------------------------------------------------------------------

def test_forged_hash_is_refused_and_records_nothing(lite: Store) -> None:
    """A hash made with another secret (or for another address) gets 403 JSON; no row."""
    People(lite).mailed()
    before = _count(lite, SENDS)
    with serve(lite) as client:
        forged = post(client, "check", identity(secret=b"not-the-site-secret-0123456789"))
        other = post(client, "check", {"email": ANA, "hash": identity("bo@example.test")["hash"]})
        missing = post(client, "check", {"email": ANA})
    assert (forged.status_code, forged.json()["error"]) == (403, "identity_refused")
    assert (other.status_code, other.json()["error"]) == (403, "identity_refused")
    assert (missing.status_code, missing.json()["error"]) == (401, "identity_required")
    assert before == _count(lite, SENDS)


def test_forged_answer_and_dismiss_record_nothing(lite: Store) -> None:
    """Answering or dismissing needs the identity too; someone else's survey is not found."""
    People(lite).mailed()
    People(lite).mailed("bo@example.test", contact_id="c-bo")
    with serve(lite) as client:
        survey = _check(client).json()["survey"]
        forged = post(client, "answer", {"email": ANA, "hash": "0" * 64, "survey": survey["id"],
                                         "score": 3})
        as_bo = post(client, "answer", {**identity("bo@example.test"), "survey": survey["id"],
                                        "score": 3})
        dismiss = post(client, "dismiss", {"email": ANA, "hash": "f" * 64})
    assert [forged.status_code, as_bo.status_code, dismiss.status_code] == [403, 404, 403]
    assert _count(lite, RESPONSES) == 0
    assert lite.widget_dismissed_until("acme", ANA) is None


# -- CORS ---------------------------------------------------------------------------------

def test_preflight_from_a_configured_origin_is_allowed(lite: Store) -> None:
    """OPTIONS from a configured origin: 204 with that origin, POST and Content-Type."""
    with serve(lite) as client:
        answer = client.options("/widget/v1/acme/check", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-allow-methods"] == "POST"
    assert answer.headers["vary"] == "Origin"
    assert "set-cookie" not in answer.headers


def test_other_origins_are_refused_without_cors_headers(lite: Store) -> None:
    """Another origin, a look-alike, or none at all: 403 JSON, no Allow-Origin, no row."""
    People(lite).mailed()
    with serve(lite) as client:
        preflight = client.options("/widget/v1/acme/check", headers={
            "Origin": "https://evil.test", "Access-Control-Request-Method": "POST"})
        answers = [post(client, "check", identity(), origin=origin)
                   for origin in ("https://evil.test", "https://app.acme.test.evil.test",
                                  "http://app.acme.test", None)]
    assert preflight.status_code == 403
    assert [a.status_code for a in answers] == [403] * 4
    assert [a.json()["error"] for a in answers] == ["origin_refused"] * 4
    assert all("access-control-allow-origin" not in a.headers for a in [preflight, *answers])
    assert _count(lite, SENDS) == 1  # the e-mail survey only


def test_preflight_for_another_method_or_header_is_refused(lite: Store) -> None:
    """Only POST with Content-Type is offered; asking for more is refused."""
    with serve(lite) as client:
        put = client.options("/widget/v1/acme/check", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "PUT"})
        header = client.options("/widget/v1/acme/check", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-secret"})
    assert [put.status_code, header.status_code] == [403, 403]


# -- rate limit ---------------------------------------------------------------------------

def test_rate_limit_per_visitor_both_sides(lite: Store) -> None:
    """A burst of 3 per client: the 3rd request passes, the 4th gets 429 + Retry-After; one
    second later (rate 1/s) one more passes."""
    ticks = FakeMonotonic()
    bucket = Buckets(rate=1.0, burst=3.0, clock=ticks)
    with serve(lite, visitor_limit=bucket) as client:
        first = [post(client, "dismiss", identity()).status_code for _ in range(3)]
        refused = post(client, "dismiss", identity())
        ticks.seconds += 1.0
        again = post(client, "dismiss", identity())
    assert first == [200, 200, 200]
    assert (refused.status_code, refused.json()["error"], refused.headers["retry-after"]) \
        == (429, "rate_limited", "1")
    assert refused.headers["access-control-allow-origin"] == ORIGIN  # the page can read it
    assert again.status_code == 200


# -- bad requests -------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "content_type", "status", "error"), [
    (b"{not json", "application/json", 400, "invalid_json"),
    (b"[1, 2]", "application/json", 400, "invalid_json"),
    (b"email=a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (b'{"email": "a@b.c", "hash": "' + b"x" * 20_000 + b'"}', "application/json", 413,
     "too_large"),
    (b'{"email": 5, "hash": "00"}', "application/json", 401, "identity_required"),
    (b'\xff\xfe', "application/json", 400, "invalid_json"),
])
def test_bad_requests_get_json_4xx(lite: Store, body: bytes, content_type: str, status: int,
                                   error: str) -> None:
    """Malformed bodies get a specific 4xx JSON error, never a 500 or an HTML page."""
    with serve(lite) as client:
        answer = client.post("/widget/v1/acme/check", content=body,
                             headers={"Origin": ORIGIN, "Content-Type": content_type})
    assert (status, error) == (answer.status_code, answer.json()["error"])


@pytest.mark.parametrize(("extra", "field"), [
    ({"language": "x" * 17}, "language"),
    ({"language": "fr; DROP"}, "language"),
    ({"name": "n" * 101}, "name"),
    ({"name": "Ana\nBo"}, "name"),
    ({"timezone": 5}, "timezone"),
])
def test_bad_visitor_hints_are_refused(store: Store, extra: dict[str, object],
                                       field: str) -> None:
    """Language, name and time zone hints too long or malformed: 400 naming the field, on
    SQLite and PostgreSQL alike (never a database error), and no row."""
    People(store).mailed()
    with serve(store) as client:
        answer = _check(client, **extra)
    assert (answer.status_code, answer.json()["detail"].split(":")[0]) == (400, field)
    assert _count(store, SENDS) == 1


def test_longest_hints_are_stored(store: Store) -> None:
    """The other side of the limits, on both databases: a 16-character language tag and a
    100-character name are stored as given."""
    People(store).mailed()
    with serve(store) as client:
        survey = _check(client, language="de-CH-x-private1", name="n" * 100,
                        timezone="Europe/Zurich").json()["survey"]
    row = store.get_send(survey["id"])
    assert row is not None
    assert (row.language, row.first_name, row.timezone) == ("de-CH-x-private1", "n" * 100,
                                                            "Europe/Zurich")


def test_unknown_site_action_and_method_get_json_errors(lite: Store) -> None:
    """Unknown site or action: 404 JSON; GET on the API: 405 JSON with Allow."""
    with serve(lite) as client:
        site_404 = post(client, "check", identity(), site_name="nope")
        action_404 = post(client, "delete-everything", identity())
        get = client.get("/widget/v1/acme/check", headers={"Origin": ORIGIN})
        stray = client.post("/widget/v1/acme", headers={"Origin": ORIGIN})
    assert (stray.status_code, stray.json()["error"]) == (404, "not_found")
    assert [site_404.status_code, action_404.status_code] == [404, 404]
    assert (get.status_code, get.json()["error"], get.headers["allow"]) \
        == (405, "method_not_allowed", "POST, OPTIONS")


@pytest.mark.parametrize(("extra", "field"), [
    ({"survey": "1", "score": 9}, "survey"),
    ({"score": 11}, "score"),
    ({"score": True}, "score"),
    ({"comment": 7}, "comment"),
    ({}, "give a score"),
])
def test_bad_answers_are_refused(lite: Store, extra: dict[str, object], field: str) -> None:
    """A score off the scale, a non-numeric id, a non-text comment: 400 naming the field."""
    People(lite).mailed()
    with serve(lite) as client:
        survey = _check(client).json()["survey"]
        answer = post(client, "answer", {**identity(), "survey": survey["id"], **extra})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(field)
    assert _count(lite, RESPONSES) == 0


# -- the survey decision ------------------------------------------------------------------

def test_due_survey_is_stored_as_sent_in_the_outbox(store: Store) -> None:
    """A due person gets a card; the outbox holds it as sent (channel web, trigger widget),
    the ledger counts it, a 'sent' write-back is queued for the contact."""
    People(store).mailed(language="fr")
    with serve(store) as client:
        answer = _check(client, name="Ana", language="fr")
    survey = answer.json()["survey"]
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert ("nps", "fr", list(range(11))) == (survey["type"], survey["language"],
                                               survey["points"])
    assert survey["texts"]["not_now"] == "Plus tard"
    assert survey["question"].startswith("Quelle est la probabilité")
    row = store.get_send(survey["id"])
    assert row is not None
    assert (row.status, row.channel, row.trigger, row.program, row.contact_id, row.sent_at) \
        == ("sent", "web", "widget", "web_nps", "c-ana", NOW)
    assert store.person_book([ANA]).last_sent(ANA, "*") == NOW
    with store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(
            select(WRITEBACKS).where(WRITEBACKS.c.send_id == row.id))]
    assert kinds == ["sent"]


def test_answer_and_comment_are_recorded_and_queued_for_write_back(store: Store) -> None:
    """Score then comment, through the store's record_response / record_comment: the
    response holds both, an 'answer' write-back is queued, and the next check shows no card
    (the answered survey is not offered again; the cooldown holds)."""
    People(store).mailed()
    clock = Clock()
    with serve(store, clock=clock) as client:
        survey = _check(client).json()["survey"]
        scored = post(client, "answer", {**identity(), "survey": survey["id"], "score": 9})
        commented = post(client, "answer", {**identity(), "survey": survey["id"],
                                            "comment": "  Fast and kind  "})
        after = _check(client).json()
        clock.now = NOW + timedelta(days=1)
        next_day = _check(client).json()
    assert [scored.status_code, commented.status_code] == [200, 200]
    response = store.get_response(survey["id"])
    assert response is not None
    assert (response.score, response.category, response.comment) \
        == (9, "promoter", "Fast and kind")
    with store.engine.connect() as conn:
        kinds = sorted(r.kind for r in conn.execute(
            select(WRITEBACKS).where(WRITEBACKS.c.send_id == survey["id"])))
    assert kinds == ["answer", "answer", "sent"]
    assert (after["survey"], after["reason"]) == (None, "program_cooldown")
    assert (next_day["survey"], next_day["reason"]) == (None, "program_cooldown")


def test_comment_before_score_is_refused(lite: Store) -> None:
    """As on the comment page: a comment needs a score first (409)."""
    People(lite).mailed()
    with serve(lite) as client:
        survey = _check(client).json()["survey"]
        early = post(client, "answer", {**identity(), "survey": survey["id"], "comment": "hi"})
    assert (early.status_code, early.json()["error"]) == (409, "score_first")


def test_unanswered_card_is_offered_again_within_the_hour(lite: Store) -> None:
    """A reload before answering shows the same survey (no second row); after REOFFER it is
    gone (it counted as sent)."""
    People(lite).mailed()
    clock = Clock()
    with serve(lite, clock=clock) as client:
        first = _check(client).json()["survey"]["id"]
        clock.now = NOW + timedelta(minutes=59, seconds=59)
        again = _check(client).json()["survey"]
        clock.now = NOW + timedelta(hours=1, seconds=1)
        later = _check(client).json()
    assert again is not None
    assert first == again["id"]
    assert later["survey"] is None
    assert _count(lite, SENDS) == 2


def test_person_mailed_this_week_is_not_asked_in_page(store: Store) -> None:
    """The global cooldown (7 days) counts the e-mail survey: 1 s short of 7 days, no card
    and no row; at exactly 7 days, the card."""
    People(store).mailed(at=NOW - timedelta(days=7) + timedelta(seconds=1))
    clock = Clock()
    with serve(store, clock=clock) as client:
        inside = _check(client).json()
        clock.now = NOW + timedelta(seconds=1)
        edge = _check(client).json()
    assert (inside["survey"], inside["reason"]) == (None, "global_cooldown")
    assert edge["survey"] is not None
    assert _count(store, SENDS) == 2


@pytest.mark.parametrize(("begun", "after", "rows"), [
    (True, "global_cooldown", 2),  # being sent: at its lease's end it counts as sent
    (False, "card", 3),  # only claimed: then it counts for nothing (handed back, or the
])                       # dispatcher, once it reads its rules again, finds the card's survey)
def test_no_card_while_a_mail_survey_to_the_person_is_on_its_way(
        store: Store, begun: bool, after: str, rows: int) -> None:
    """A dispatcher holds a csat mail to Ana, claimed (its rules read before any card) or
    being sent; its lease ends in 30 s. A card now would make two surveys: none, and the
    reason says why, until that lease's end."""
    People(store).mailed()  # 60 days ago: Ana is a known contact, outside every cooldown
    store.add_sends([NewSend(
        idem_key="mail-now", program="csat", survey_type="csat", source="hubspot",
        contact_id="c-ana", due_at=NOW - timedelta(minutes=1), created_at=NOW,
        ticket_id="t-now", email=ANA, first_name="Ana")])
    [held] = store.claim_due_sends(NOW, 1, timedelta(seconds=30))
    if begun:
        assert store.begin_sending(held.id, NOW)
    clock = Clock()
    with serve(store, clock=clock) as client:
        waiting = _check(client).json()
        clock.now = NOW + timedelta(seconds=30)
        ended = _check(client).json()
    assert (waiting["survey"], waiting["reason"]) == (None, "survey_in_flight")
    assert ("card" if ended["survey"] is not None else ended["reason"]) == after
    assert _count(store, SENDS) == rows


def test_a_claim_due_after_the_cards_own_time_holds_the_card_too(store: Store) -> None:
    """The dispatcher's host is a second ahead: it claimed a mail due at NOW + 1 s (by the
    web host's clock, after the card's own time). Its rules were read before the card all
    the same: no card until its lease ends."""
    People(store).mailed()
    store.add_sends([NewSend(
        idem_key="mail-now", program="csat", survey_type="csat", source="hubspot",
        contact_id="c-ana", due_at=NOW + timedelta(seconds=1), created_at=NOW,
        ticket_id="t-now", email=ANA, first_name="Ana")])
    assert store.claim_due_sends(NOW + timedelta(seconds=1), 1, timedelta(seconds=30))
    with serve(store, clock=Clock()) as client:
        seen = _check(client).json()
    assert (seen["survey"], seen["reason"]) == (None, "survey_in_flight")


def test_suppressed_person_is_not_asked(lite: Store) -> None:
    """An unsubscribed address gets no card (the suppression is shared with e-mail)."""
    People(lite).mailed()
    lite.suppress(ANA, "unsubscribed", NOW - timedelta(days=1))
    with serve(lite) as client:
        answer = _check(client).json()
    assert (answer["survey"], answer["reason"]) == (None, "suppressed")


def test_unknown_person_is_not_asked(lite: Store) -> None:
    """Nobody ClosedLoop never met in the program's CRM: no record to write back to."""
    with serve(lite) as client:
        answer = _check(client).json()
    assert (answer["survey"], answer["reason"]) == (None, "unknown_contact")
    assert _count(lite, SENDS) == 0


def test_not_now_holds_its_cooldown_both_sides(lite: Store) -> None:
    """"Not now" keeps the card away until its end (1 s before: none), then it may show."""
    People(lite).mailed()
    clock = Clock()
    with serve(lite, sites={"acme": site(not_now=timedelta(days=3))}, clock=clock) as client:
        dismissed = post(client, "dismiss", identity())
        clock.now = NOW + timedelta(days=3) - timedelta(seconds=1)
        inside = _check(client).json()
        clock.now = NOW + timedelta(days=3)
        edge = _check(client).json()
    assert dismissed.status_code == 200
    assert NOW + timedelta(days=3) == lite.widget_dismissed_until("acme", ANA)
    assert (inside["survey"], inside["reason"]) == (None, "not_now")
    assert edge["survey"] is not None


def test_quiet_hours_do_not_apply_in_page_but_send_days_do(lite: Store) -> None:
    """At 23:00 (quiet hours for mail) the card shows; on a day that is not a send day,
    it does not (reason send_day)."""
    People(lite).mailed()
    night = Clock(datetime(2026, 3, 4, 23, 0, tzinfo=UTC))
    with serve(lite, clock=night) as client:
        at_night = _check(client).json()
    assert at_night["survey"] is not None
    People(lite).mailed("bo@example.test", contact_id="c-bo")
    no_wednesdays = Policy(send_days=frozenset({0, 1, 3, 4, 5, 6}))
    with serve(lite, policy=no_wednesdays) as client:
        wednesday = post(client, "check", identity("bo@example.test")).json()
    assert (wednesday["survey"], wednesday["reason"]) == (None, "send_day")


def test_first_due_program_of_the_site_is_shown(lite: Store) -> None:
    """Programs are tried in the site's order: NPS in its 90-day cooldown, so CSAT shows."""
    People(lite).mailed(at=NOW - timedelta(days=30), program="csat")
    with lite.engine.begin() as conn:
        conn.execute(LEDGER.insert().values(email_norm=ANA, program="web_nps",
                                            last_sent_at=NOW - timedelta(days=20),
                                            source="hubspot"))
    sites = {"acme": site(programs=("web_nps", "web_csat"))}
    with serve(lite, sites=sites) as client:
        survey = _check(client).json()["survey"]
    assert (survey["type"], survey["points"]) == ("csat", [1, 2, 3, 4, 5])
    assert POLICY.global_cooldown == timedelta(days=7)


# -- the script ---------------------------------------------------------------------------

def test_script_is_small_cacheable_and_versioned(lite: Store) -> None:
    """widget.js: JavaScript, under 10 kB gzipped, cacheable, its version in the ETag and
    in the stylesheet URL it loads; the versioned stylesheet is immutable; no cookie."""
    with serve(lite) as client:
        script = client.get("/widget.js")
        version = script.headers["etag"].strip('"')
        css = client.get(f"/widget.css?v={version}")
        unchanged = client.get("/widget.js", headers={"If-None-Match": f'"{version}"'})
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert len(gzip.compress(script.content, 9)) < 10 * 1024
    assert script.headers["cache-control"] == "public, max-age=300"
    assert f'"{version}"' in script.text
    assert "eval(" not in script.text
    assert "innerHTML" not in script.text
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert unchanged.status_code == 304
    assert "set-cookie" not in script.headers
    assert "set-cookie" not in css.headers


def test_answers_are_taken_for_a_day_after_the_card_was_shown(lite: Store) -> None:
    """1 s short of a day after the card, a score is recorded; at a day, 410 and nothing."""
    People(lite).mailed()
    clock = Clock()
    with serve(lite, clock=clock) as client:
        survey = _check(client).json()["survey"]
        clock.now = NOW + timedelta(days=1) - timedelta(seconds=1)
        inside = post(client, "answer", {**identity(), "survey": survey["id"], "score": 6})
        clock.now = NOW + timedelta(days=1)
        late = post(client, "answer", {**identity(), "survey": survey["id"], "score": 10})
    assert inside.status_code == 200
    assert (late.status_code, late.json()["error"]) == (410, "expired")
    response = lite.get_response(survey["id"])
    assert response is not None
    assert response.score == 6


def test_unsubscribe_takes_away_a_card_still_offered(lite: Store) -> None:
    """A card shown 10 minutes ago is offered again, unless the person unsubscribed since."""
    People(lite).mailed()
    clock = Clock()
    with serve(lite, clock=clock) as client:
        assert _check(client).json()["survey"] is not None
        clock.now = NOW + timedelta(minutes=10)
        lite.suppress(ANA, "unsubscribed", clock.now)
        answer = _check(client).json()
    assert (answer["survey"], answer["reason"]) == (None, "suppressed")


def test_database_outage_is_a_json_503(tmp_path: Path) -> None:
    """The store unreachable (its file removed from under it): 503 JSON, not an HTML page."""
    folder = tmp_path / "state"
    folder.mkdir()
    broken = Store(f"sqlite:///{folder / 'w.db'}")
    broken.migrate()
    broken.dispose()
    shutil.rmtree(folder)  # SQLite cannot open a file in a folder that is gone
    with serve(broken) as client:
        answer = _check(client)
    assert (answer.status_code, answer.json()["error"]) == (503, "unavailable")
    assert answer.headers["access-control-allow-origin"] == ORIGIN
