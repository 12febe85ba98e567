"""The themes of a contact's latest comment land on the CRM record, on each CRM's sandbox
(issue 9: "optionally the theme of a contact's latest comment written to a CRM property").

With `[themes] property` set, the loop's setup (as `closedloop setup`) creates the property
(HubSpot contact property, Zendesk user field); the sandboxes refuse writes to one that does
not exist. A French comment about a late parcel and a refund writes "delivery,...", a later
comment on the same survey rewrites it, and a newer answer without a comment empties it
(the record never pairs a new answer with an older comment's themes).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from e2e_loop import Loop

ANSWER = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")
PROPERTY = "cl_feedback_last_themes"


@pytest.fixture
def loop_options() -> dict[str, Any]:
    return {"themes": {"property": PROPERTY}}


def _links(loop: Loop, index: int) -> dict[int, str]:
    body = loop.sink.messages[index].get_body(("plain",))
    assert body is not None
    return {int(s): url for url, s in ANSWER.findall(body.get_content())}


def _answer(loop: Loop, index: int, score: int, comment: str | None) -> None:
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        answered = web.post(_links(loop, index)[score])
        assert answered.status_code == 200
        if comment is not None:
            assert web.post(str(answered.url), data={"comment": comment}).status_code == 200


def test_latest_comment_themes_reach_the_contact(loop: Loop) -> None:
    """Created by setup; written with the answer; rewritten on an edit; emptied by a newer
    answer without a comment."""
    _, contact = loop.close_ticket("ada@example.com", language="fr",
                                   pipeline=loop.crm.support)
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    _answer(loop, 0, 2, "Colis arrivé avec une semaine de retard, je veux être remboursé")
    loop.rt.write_back()
    assert loop.props(contact)[PROPERTY] == "delivery,wait_time,refund_return"

    with httpx.Client(follow_redirects=True, timeout=10) as web:
        page = web.post(_links(loop, 0)[2])
        assert web.post(str(page.url), data={"comment": "Conseiller très aimable"}
                        ).status_code == 200
    loop.rt.write_back()
    assert loop.props(contact)[PROPERTY] == "staff"

    loop.close_ticket(None, contact=contact, pipeline=loop.crm.billing)
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=2))
    assert loop.rt.dispatch().sent == 1
    _answer(loop, 1, 6, None)
    loop.rt.write_back()
    assert loop.props(contact).get(PROPERTY, "") == ""
