"""The web widget end to end, on each CRM sandbox: a customer surveyed by e-mail signs in to
the company's app a week later, answers the in-page NPS card, and the answer reaches their
CRM record through the normal write-back, beside the e-mail survey's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from e2e_loop import Loop
from uvicorn_support import served_client

from closedloop.daemon.web.widget.identity import identity_hash
from closedloop.daemon.web.widget.settings import Site

SECRET = b"e2e-widget-secret-0123456789abcdef"
ORIGIN = "https://app.acme.example"


@pytest.fixture
def loop_options(crm_name: str) -> dict[str, Any]:
    return {"programs": [
        {"name": "support-csat", "type": "csat", "source": crm_name, "delay": "1h",
         "company": "Acme"},
        {"name": "web-nps", "type": "nps", "source": crm_name, "company": "Acme",
         "channel": "web", "cooldown": "90d"},
    ], "rules": {"global_cooldown": "7d"}}



@contextmanager
def _served(app: Any) -> Iterator[httpx.Client]:
    with served_client(app, headers={"Origin": ORIGIN}) as client:
        yield client


def test_in_page_answer_reaches_the_crm_record(loop: Loop) -> None:
    """E-mail survey sent; the same week the widget offers nothing (global cooldown); eight
    days later it shows the web NPS program, and score and comment are written back onto
    the contact like any answer. The poll never queued the web program by e-mail."""
    _, contact = loop.close_ticket("ada@example.com")
    assert loop.rt.poll()[loop.source].queued == 1
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    loop.rt.write_back()
    loop.rt.widget_sites = {"app": Site("app", SECRET, frozenset({ORIGIN}), ("web-nps",),
                                        timedelta(days=14))}
    who = {"email": "ada@example.com", "hash": identity_hash(SECRET, "ada@example.com")}
    with _served(loop.rt.web_app()) as client:
        same_week = client.post("/widget/v1/app/check", json=who).json()
        loop.clock.advance(timedelta(days=8))
        survey = client.post("/widget/v1/app/check", json=who).json()["survey"]
        scored = client.post("/widget/v1/app/answer",
                             json={**who, "survey": survey["id"], "score": 3})
        commented = client.post("/widget/v1/app/answer",
                                json={**who, "survey": survey["id"], "comment": "Too slow"})
    assert same_week == {"survey": None, "reason": "global_cooldown"}
    assert (survey["type"], scored.status_code, commented.status_code) == ("nps", 200, 200)

    assert loop.rt.write_back()[loop.source].contacts == 1
    props = loop.props(contact)
    assert (props["cl_nps_last_rating"], props["cl_nps_last_comment"],
            props["cl_nps_last_category"]) == ("3", "Too slow", "detractor")
    assert loop.prop(contact, "cl_csat_last_sent")  # the e-mail survey's, still there
    assert loop.prop(contact, "cl_nps_last_sent")  # the in-page one's sent date
    assert loop.rt.store.counts()["sends.sent"] == 2
