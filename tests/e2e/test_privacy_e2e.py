"""Forget end to end, for each CRM: the person's CRM properties end up blank, nothing is
sent again for the same ticket, and the export no longer has them."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import httpx
from e2e_loop import Loop
from sqlalchemy import text

from closedloop.daemon.privacy import forget_person, write_export

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")


def test_forget_blanks_the_crm_record_and_stays_forgotten(loop: Loop) -> None:
    _, contact = loop.close_ticket("Forget.Me@example.com")
    _, other = loop.close_ticket("keep.me@example.com", first="Kim")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 2
    body = loop.sink.messages[[m["To"] for m in loop.sink.messages].index(
        "Forget.Me@example.com")].get_body(("plain",))
    assert body is not None
    links = {int(s): p for p, s in LINK.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        answered = web.post(links[3])
        web.post(str(answered.url), data={"comment": "Too slow"})
    loop.rt.write_back()
    assert loop.prop(contact, "cl_csat_last_comment") == "Too slow"
    kept = loop.props(other)
    assert kept

    result = forget_person(loop.rt.store, "forget.me@EXAMPLE.com", loop.clock.now)
    assert (result.responses, result.contacts) == (1, ((loop.source, contact),))
    written = loop.rt.write_back()[loop.source]
    assert (written.contacts, written.rejected) == (1, 0)
    assert {k: v for k, v in loop.props(contact).items() if k.startswith("cl_")} == {}
    assert loop.props(other) == kept

    with loop.rt.store.engine.begin() as conn:  # the poller reads every ticket again
        conn.execute(text("DELETE FROM cursors"))
    again = loop.rt.poll()[loop.source]
    assert again.tickets >= 2  # both tickets read again ...
    assert again.queued == 0  # ... and the scrubbed send still holds its key
    loop.clock.advance(timedelta(hours=2))
    assert loop.rt.dispatch().sent == 0
    out = io.StringIO()
    rows = write_export(loop.rt.store.export_responses(), out, "jsonl")
    assert (rows, "forget" in out.getvalue().lower()) == (0, False)
