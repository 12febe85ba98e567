"""Unsubscribe and snooze from a real mail, for each CRM: the mail's own links and headers,
the pages in the contact's language, and what the next survey does afterwards."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from e2e_loop import Loop
from sqlalchemy import select

from closedloop.daemon.store.tables import WriteBack

UNSUBSCRIBE = re.compile(r"(http://127\.0\.0\.1:\d+/u/[A-Za-z0-9._-]+)")


def unsubscribe_link(loop: Loop, index: int) -> str:
    """The List-Unsubscribe URL, which must also be the link in the mail's text."""
    message = loop.sink.messages[index]
    header = str(message["List-Unsubscribe"]).strip().strip("<>")
    body = message.get_body(("plain",))
    assert body is not None
    assert UNSUBSCRIBE.findall(body.get_content()) == [header]
    return header


def preference_rows(loop: Loop) -> list[tuple[str, dict[str, object]]]:
    with loop.rt.store.engine.connect() as conn:
        rows = conn.execute(select(WriteBack.status, WriteBack.data)
                            .where(WriteBack.kind == "preference"))
        return [(r.status, r.data) for r in rows]


def survey_once(loop: Loop, email: str, language: str = "en") -> tuple[int, dict[str, int]]:
    """Close a ticket for `email`, poll, wait out the delay, dispatch: (sent, skipped)."""
    loop.close_ticket(email, language=language)
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    result = loop.rt.dispatch()
    return result.sent, dict(result.skipped)


def test_one_click_from_the_mail_header_stops_the_next_survey(loop: Loop) -> None:
    """A mail client's RFC 8058 POST to the List-Unsubscribe URL: 200, no page to follow;
    the person's next ticket is skipped as suppressed, and the write-back job takes the
    'preference' row without failing."""
    assert survey_once(loop, "ada@example.com") == (1, {})
    assert loop.sink.messages[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with httpx.Client(timeout=10) as web:
        answer = web.post(unsubscribe_link(loop, 0), data={"List-Unsubscribe": "One-Click"})
    assert (answer.status_code, answer.headers.get("location")) == (200, None)

    assert survey_once(loop, "ADA@example.com") == (0, {"suppressed": 1})
    assert len(loop.sink.messages) == 1
    assert [data["unsubscribed"] for _, data in preference_rows(loop)] == [True]
    loop.rt.write_back()
    assert [status for status, _ in preference_rows(loop)] != ["pending"]


def test_snooze_in_the_contacts_language_then_surveys_resume(loop: Loop) -> None:
    """A bokmål contact: the mail's unsubscribe page is in bokmål; "not for a while" holds
    the next survey back until the snooze (182 days) ends, then surveys resume."""
    assert survey_once(loop, "kari@example.no", language="nb") == (1, {})
    link = unsubscribe_link(loop, 0)
    with httpx.Client(timeout=10) as web:
        page = web.get(link)
        assert '<html lang="nb">' in page.text
        assert "Bare sett dem på pause til" in page.text
        assert loop.rt.store.is_suppressed("kari@example.no", loop.clock.now) is False
        paused = web.post(link, data={"choice": "snooze"})
    assert "Undersøkelsene er satt på pause" in paused.text

    assert survey_once(loop, "kari@example.no", language="nb") == (0, {"suppressed": 1})
    loop.clock.advance(timedelta(days=183))
    assert survey_once(loop, "kari@example.no", language="nb") == (1, {})
