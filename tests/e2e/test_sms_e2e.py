"""The SMS channel end to end, for each CRM: numbers from the CRM, the text sent through the
real `twilio` client to the sandbox gateway over HTTP, replies and status callbacks signed as
Twilio signs them, the answer written back to the CRM, STOP shared with e-mail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from e2e_loop import E2E_START, SECRET, Clock, Loop, free_port, loop_config, make_driver
from sqlalchemy import select
from test_metrics_e2e import scrape, value

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.service import BackgroundService
from closedloop.daemon.store.tables import Send, SmsMessage, SmsReply
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.twilio import TwilioSandbox

PHONE = "+14155550100"
TYPED = "(415) 555-0100"  # as the CRM keeps it; read in the default region (US)
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/s/[A-Za-z0-9]{10})")


class SmsLoop(Loop):
    twilio: TwilioSandbox

    def texted(self, phone: str = TYPED, email: str | None = "ada@example.com",
               language: str = "en", timezone: str | None = None) -> str:
        """A person with a number closes a support ticket; poll and wait out the delay
        (the test dispatches). Returns the contact id."""
        contact = self.crm.create_contact(email, "Ada", language, timezone, phone=phone)
        self.close_ticket(email, contact=contact)
        self.rt.poll()
        self.clock.advance(timedelta(hours=1))
        return contact


@pytest.fixture
def sms_rules() -> dict[str, Any]:
    """[rules] for the loop (a test parametrizes it); default: no quiet hours."""
    return {}


@pytest.fixture
def sms_csat() -> dict[str, Any]:
    """Extra keys of the SMS program (a test parametrizes it)."""
    return {}


@pytest.fixture(params=["hubspot", "zendesk"])
def sms(request: pytest.FixtureRequest, tmp_path: Path, sms_rules: dict[str, Any],
        sms_csat: dict[str, Any]) -> Iterator[SmsLoop]:
    """The loop with a Twilio sandbox: CSAT on the support pipeline by SMS, CES by e-mail."""
    with time_machine.travel(E2E_START, tick=True), TwilioSandbox() as twilio:
        start = E2E_START.replace(microsecond=0)
        clock = Clock(start)
        with make_driver(request.param, start) as crm, LocalMailSink(port=0) as sink:
            port = free_port()
            config = loop_config(
                tmp_path, crm, sink.port, port, start - timedelta(minutes=10),
                sms={"account_sid": twilio.account_sid, "from_number": "+15005550006",
                     "base_url": twilio.url, "default_region": "US"},
                programs=[
                    {"name": "support-csat", "type": "csat", "source": crm.crm,
                     "delay": "1h", "company": "Acme", "pipelines": [crm.support],
                     "channel": "sms", **sms_csat},
                    {"name": "billing-ces", "type": "ces", "source": crm.crm, "delay": "1h",
                     "company": "Acme", "pipelines": [crm.billing]},
                ], rules=sms_rules)
            secrets = Secrets(secret_key=SECRET, source_tokens={crm.crm: crm.secrets()},
                              sms_auth_token=twilio.auth_token)
            rt = build_runtime(config, secrets, clock=clock)
            rt.store.migrate()
            for name, mapping in rt.mappings.items():
                rt.adapters[name].ensure_properties(mapping.group_name, mapping.group_label,
                                                    mapping.specs())
            web = BackgroundService(rt, port=port)
            web.start(jobs=False)
            loop = SmsLoop(crm, sink, rt, clock, config)
            loop.twilio = twilio
            try:
                yield loop
            finally:
                web.stop()
                rt.close()


def _inbound(loop: SmsLoop, body: str, phone: str = PHONE, **kw: Any) -> tuple[int, str]:
    return loop.twilio.inbound(phone, body, f"http://127.0.0.1:{loop.config.daemon.listen_port}"
                               "/hooks/twilio/inbound", **kw)


def test_a_text_in_one_segment_answered_by_reply_reaches_the_crm(sms: SmsLoop) -> None:
    """The CRM's number, typed nationally, is texted in E.164 through the real client: one
    GSM-7 segment with a short link; "4 great service" records score and comment for
    that survey, answers with a thank-you, and the write-back puts them on the record."""
    contact = sms.texted()
    result = sms.rt.dispatch()
    assert (result.sent, result.unknown) == (1, 0)
    [message] = sms.twilio.messages
    assert (message.to, message.from_, message.segments) == (PHONE, "+15005550006", 1)
    assert sms.twilio.calls["POST /Messages.json"] == 1
    assert LINK.search(message.body) is not None
    assert sms.sink.messages == []  # no e-mail for an SMS program

    status, twiml = _inbound(sms, "4 great service")
    assert status == 200
    assert "Thank you! Your score 4 is recorded." in twiml
    with sms.rt.store.engine.connect() as conn:
        row = conn.execute(select(SmsMessage.send_id)).one()
    response = sms.rt.store.get_response(row.send_id)
    assert response is not None
    assert (response.score, response.comment) == (4, "great service")
    sms.rt.write_back()
    props = sms.props(contact)
    assert (props["cl_csat_last_rating"], props["cl_csat_last_comment"]) == ("4", "great service")
    counts = sms.rt.store.counts()
    assert (counts["sms.sent"], counts["sms.segments_sent"], counts["sms.replies.comment"]) \
        == (1, 1, 1)


def test_a_bare_score_reply_and_the_short_link(sms: SmsLoop) -> None:
    """"5" alone is a score without a comment; the text's /s/<code> link leads to the same
    survey page as a mail's links; an unknown code is a 404; an unreadable reply records
    nothing and asks again politely."""
    sms.texted()
    sms.rt.dispatch()
    link = LINK.search(sms.twilio.messages[0].body)
    assert link is not None
    status, twiml = _inbound(sms, "hmm, not sure")
    assert (status, "Reply with a number from 1 to 5" in twiml) == (200, True)
    assert _inbound(sms, "5")[0] == 200
    with sms.rt.store.engine.connect() as conn:
        send_id = conn.execute(select(SmsMessage.send_id)).scalar_one()
        outcomes = sorted(conn.execute(select(SmsReply.outcome)).scalars())
    response = sms.rt.store.get_response(send_id)
    assert response is not None
    assert (response.score, response.comment, outcomes) == (5, None, ["score", "unparsed"])
    with httpx.Client(timeout=10, follow_redirects=True) as web:
        page = web.get(link.group(1))
        missing = web.get(link.group(1)[:-10] + "AAAAAAAAAA")
    assert (page.status_code, "How satisfied" in page.text) == (200, True)
    assert "/c/" in str(page.url)
    assert missing.status_code == 404


def test_an_invalid_number_is_skipped_with_its_reason(sms: SmsLoop) -> None:
    """A number that is no number is not guessed at: the survey is skipped `invalid_phone`,
    shown by status and by plan; nothing reaches Twilio."""
    contact = sms.crm.create_contact("ada@example.com", "Ada", "en", None, phone="12-34")
    sms.close_ticket("ada@example.com", contact=contact)
    planned = [(e.action, e.reason) for e in sms.rt.plan(days=1).entries]
    assert planned == [("skip", "invalid_phone")]
    sms.rt.poll()
    sms.clock.advance(timedelta(hours=1))
    result = sms.rt.dispatch()
    assert (result.sent, len(sms.twilio.messages)) == (0, 0)
    assert sms.rt.store.counts()["skipped.invalid_phone"] == 1


def test_stop_in_french_stops_email_too(sms: SmsLoop) -> None:
    """"Arrêt" by text unsubscribes the person: the same suppression table, so their next
    e-mail survey (the CES program) is skipped as suppressed, and a second text too."""
    sms.texted(language="fr")
    assert sms.rt.dispatch().sent == 1
    status, twiml = _inbound(sms, "Arrêt")
    assert status == 200
    assert "Vous ne recevrez plus nos enquêtes" in twiml
    assert sms.rt.store.is_suppressed("ada@example.com", sms.clock.now)
    contact = sms.crm.create_contact("ada@example.com", "Ada", "fr", None, phone=TYPED)
    sms.close_ticket("ada@example.com", contact=contact, pipeline=sms.crm.billing)
    sms.texted(language="fr")
    result = sms.rt.dispatch()
    assert (result.sent, dict(result.skipped)) == (0, {"suppressed": 2})
    assert (len(sms.sink.messages), len(sms.twilio.messages)) == (0, 1)


def test_twilio_stop_word_gets_no_second_confirmation(sms: SmsLoop) -> None:
    """"STOP" is Twilio's own word (it confirms it itself): the daemon suppresses the number
    and answers an empty TwiML response."""
    sms.texted(email=None)
    assert sms.rt.dispatch().sent == 1
    status, twiml = _inbound(sms, "STOP")
    assert (status, "<Message>" in twiml) == (200, False)
    assert sms.rt.store.is_suppressed(PHONE, sms.clock.now)


def test_forged_signatures_are_refused(sms: SmsLoop) -> None:
    """A reply or a status callback signed with another key: 403 with a JSON error, nothing
    recorded."""
    sms.texted()
    sms.rt.dispatch()
    status, body = _inbound(sms, "1 terrible", token="not-the-auth-token")
    assert (status, '"bad_signature"' in body) == (403, True)
    message = sms.twilio.messages[0]
    assert sms.twilio.deliver(message.sid, "delivered", token="forged") == 403
    with sms.rt.store.engine.connect() as conn:
        assert conn.execute(select(SmsReply.id)).all() == []
        assert conn.execute(select(SmsMessage.delivery_status)).scalar_one() == "queued"


def test_status_callbacks_are_recorded(sms: SmsLoop) -> None:
    """Twilio's StatusCallback (signed) moves the message's delivery status; status shows
    it."""
    sms.texted()
    sms.rt.dispatch()
    sid = sms.twilio.messages[0].sid
    assert sms.twilio.deliver(sid, "sent") == 204
    assert sms.twilio.deliver(sid, "delivered") == 204
    counts = sms.rt.store.counts()
    assert (counts.get("sms.delivery.delivered"), counts.get("sms.delivery.sent")) == (1, None)


def test_a_lost_answer_leaves_outcome_unknown_never_resent(sms: SmsLoop) -> None:
    """Twilio takes the message but its answer is lost (the connection drops): the row is
    outcome_unknown, counted as sent, and never sent again."""
    sms.texted()
    sms.twilio.set_faults(FaultRates(lost=1.0, lost_as="drop"))
    result = sms.rt.dispatch()
    sms.twilio.set_faults(None)
    assert (result.sent, result.unknown, len(sms.twilio.messages)) == (0, 1, 1)
    sms.clock.advance(timedelta(hours=1))
    sms.rt.dispatch()
    counts = sms.rt.store.counts()
    assert (len(sms.twilio.messages), counts["sms.outcome_unknown"]) == (1, 1)


def test_a_daemon_killed_after_marking_never_texts_twice(sms: SmsLoop) -> None:
    """The row is marked handed-over before Twilio is called: a daemon killed right there
    leaves it awaiting_reply; the next run settles it outcome_unknown (counted as sent)
    and sends nothing."""

    class Killed(BaseException):
        pass

    channel = sms.rt.sms
    assert channel is not None
    real = channel.send

    def dying(row: Any, message: Any, handed_over: Any, now: Any) -> Any:
        handed_over()
        raise Killed

    channel.send = dying  # type: ignore[method-assign]
    sms.texted()
    with pytest.raises(Killed):
        sms.rt.dispatch()
    channel.send = real  # type: ignore[method-assign]
    sms.clock.advance(timedelta(minutes=5))
    assert sms.rt.dispatch().sent == 0
    counts = sms.rt.store.counts()
    assert (len(sms.twilio.messages), counts["outcome_unknown.interrupted_during_send"]) \
        == (0, 1)


@pytest.mark.parametrize("sms_rules", [{"quiet_hours": ["21:00", "08:00"]}])
def test_quiet_hours_defer_a_text(sms: SmsLoop) -> None:
    """Quiet hours hold for texts as for mail: 01:30 in Los Angeles is deferred (to 08:00
    there), and nothing reaches Twilio."""
    sms.texted(timezone="America/Los_Angeles")
    result = sms.rt.dispatch()
    assert (result.sent, dict(result.deferred), len(sms.twilio.messages)) \
        == (0, {"quiet_hours": 1}, 0)


@pytest.mark.parametrize("sms_csat", [{"reminders": ["1d"]}])
def test_a_reminder_text_has_its_own_code_and_leads_to_the_survey(sms: SmsLoop) -> None:
    """A reminder is a second text with a code of its own; its link opens the survey's
    page, and a reply after it answers the survey (whose answer stops further reminders)."""
    sms.texted()
    assert sms.rt.dispatch().sent == 1
    sms.clock.advance(timedelta(days=1, minutes=1))
    assert sms.rt.dispatch().sent == 1
    first, second = (LINK.search(m.body) for m in sms.twilio.messages)
    assert first is not None
    assert second is not None
    assert first.group(1) != second.group(1)
    with httpx.Client(timeout=10, follow_redirects=True) as web:
        pages = [web.get(link.group(1)) for link in (first, second)]
    assert [p.status_code for p in pages] == [200, 200]
    assert pages[0].url == pages[1].url  # the survey's token, dated like the survey
    assert _inbound(sms, "2")[0] == 200
    with sms.rt.store.engine.connect() as conn:
        sends = conn.execute(select(SmsMessage.send_id).order_by(SmsMessage.send_id)).scalars()
        survey = next(iter(sends))
    response = sms.rt.store.get_response(survey)
    assert response is not None
    assert response.score == 2
    assert sms.rt.store.counts()["sms.segments_sent"] == 2


def test_forget_drops_replies_and_numbers(sms: SmsLoop) -> None:
    """`forget` by address also drops the person's replies (a comment may quote them) and
    the numbers kept with their texts and sends."""
    sms.texted()
    sms.rt.dispatch()
    assert _inbound(sms, "1 the agent was rude")[0] == 200
    sms.rt.store.forget("ada@example.com", sms.clock.now)
    with sms.rt.store.engine.connect() as conn:
        replies = conn.execute(select(SmsReply.id)).all()
        numbers = conn.execute(select(SmsMessage.phone)).scalars().all()
    assert (replies, numbers) == ([], [""])
    scrubbed = sms.rt.store.get_send(1)
    assert scrubbed is not None
    assert scrubbed.phone is None


def test_twilio_unreachable_holds_back_texts_not_mail(sms: SmsLoop) -> None:
    """No connection could be made: nothing left, so the texts are due again (not
    outcome_unknown; the second is not even tried) and go out once Twilio is back; the
    batch's mail goes out meanwhile."""
    contact = sms.crm.create_contact("bo@example.com", "Bo", "en", None)
    sms.close_ticket("bo@example.com", contact=contact, pipeline=sms.crm.billing)
    sms.texted()
    sms.texted(phone="+1 415 555 0177", email="cy@example.com")
    port = int(sms.twilio.url.rsplit(":", 1)[1])
    sms.twilio.stop()
    result = sms.rt.dispatch()
    assert (result.sent, result.unknown, result.retried) == (1, 0, 2)
    assert len(sms.sink.messages) == 1
    texts = [r for r in _rows(sms) if r.channel == "sms"]
    assert [(r.status, r.attempts) for r in texts] == [("pending", 1), ("pending", 0)]
    assert all((r.last_error or "").startswith("sms: Twilio unreachable") for r in texts)
    restarted = TwilioSandbox(port=port)
    restarted.start()
    try:
        sms.clock.advance(timedelta(minutes=6))
        assert sms.rt.dispatch().sent == 2
        assert len(restarted.messages) == 2
    finally:
        restarted.stop()


def test_a_429_is_tried_again_and_an_opted_out_number_is_suppressed(sms: SmsLoop) -> None:
    """Twilio's 429: the text is due again later (it surely did not leave); 21610 (the
    number texted STOP to Twilio itself): failed for good and the number suppressed here."""
    sms.texted()
    sms.twilio.fail_next(429, 20429)
    first = sms.rt.dispatch()
    assert (first.sent, first.retried, len(sms.twilio.messages)) == (0, 1, 0)
    sms.clock.advance(timedelta(minutes=6))
    assert sms.rt.dispatch().sent == 1
    sms.twilio.opted_out.add("+14155550199")
    sms.texted(phone="+1 415 555 0199", email="bo@example.com")
    refused = sms.rt.dispatch()
    assert (refused.sent, refused.failed) == (0, 1)
    assert sms.rt.store.is_suppressed("+14155550199", sms.clock.now)


def test_a_retried_reply_is_recorded_once_and_bad_requests_are_named(sms: SmsLoop) -> None:
    """Twilio retries a webhook with the same MessageSid: recorded once. A signed request
    without MessageSid is 400; a body over the cap is 413 (before any signature check)."""
    sms.texted()
    sms.rt.dispatch()
    url = f"http://127.0.0.1:{sms.config.daemon.listen_port}/hooks/twilio/inbound"
    params = {"MessageSid": "SM" + "1" * 32, "From": PHONE, "Body": "3", "AccountSid": "AC1"}
    assert [sms.twilio.post_signed(url, params) for _ in range(2)] == [200, 200]
    assert sms.rt.store.counts()["sms.replies.score"] == 1
    status, body = sms.twilio.post_signed_body(url, {"From": PHONE, "Body": "3"})
    assert (status, '"bad_payload"' in body) == (400, True)
    with httpx.Client(timeout=10) as web:
        large = web.post(url, content=b"Body=" + b"x" * (1024 * 1024 + 1),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert large.status_code == 413


def _rows(sms: SmsLoop) -> list[Any]:
    with sms.rt.store.engine.connect() as conn:
        return list(conn.execute(select(Send.__table__)).all())


@pytest.mark.parametrize("sms_csat", [{"channel": "email_then_sms", "cooldown": "30d"}])
def test_email_then_sms_texts_only_people_without_an_address(sms: SmsLoop) -> None:
    """With an address: the survey is mailed (nothing to Twilio); without one: texted. The
    texted person's ledger key is the number, so their next survey meets the cooldown."""
    sms.texted(email="mia@example.com")
    sms.texted(email=None)
    result = sms.rt.dispatch()
    assert (result.sent, len(sms.sink.messages), len(sms.twilio.messages)) == (2, 1, 1)
    assert sms.twilio.messages[0].to == PHONE
    channels = sorted((r.channel, r.email_norm) for r in _rows(sms))
    assert channels == [("email", "mia@example.com"), ("sms", PHONE)]
    sms.clock.advance(timedelta(days=1))
    sms.texted(email=None)  # the same number, another ticket a day later
    again = sms.rt.dispatch()
    assert (again.sent, dict(again.skipped)) == (0, {"program_cooldown": 1})


def test_start_undoes_stop_for_the_number_and_the_person(sms: SmsLoop) -> None:
    """"STOP" then "START" (Twilio's opt-in word, which it confirms itself): the number and
    the person are no longer suppressed, the CRM is told "subscribed" again, and the next
    survey (a month later: past the cooldowns) is texted. Before the START, the same
    survey was skipped as suppressed."""
    contact = sms.texted()
    assert sms.rt.dispatch().sent == 1
    assert _inbound(sms, "STOP")[0] == 200
    assert sms.rt.store.is_suppressed(PHONE, sms.clock.now)
    sms.rt.write_back()
    assert _unsubscribed_on_crm(sms, contact)
    sms.texted()
    assert dict(sms.rt.dispatch().skipped) == {"suppressed": 1}

    status, twiml = _inbound(sms, "Start")
    assert (status, "<Message>" in twiml) == (200, False)
    assert not sms.rt.store.is_suppressed(PHONE, sms.clock.now)
    assert not sms.rt.store.is_suppressed("ada@example.com", sms.clock.now)
    sms.rt.write_back()
    assert not _unsubscribed_on_crm(sms, contact)
    sms.clock.advance(timedelta(days=30))  # past the cooldowns of the first text
    sms.texted()
    assert sms.rt.dispatch().sent == 1


def test_start_leaves_a_bounce_and_a_snooze_alone(sms: SmsLoop) -> None:
    """START lifts only an unsubscribe: a hard bounce of the address stays, and so does a
    snooze chosen on the page (START is about texts, not a choice made elsewhere)."""
    sms.texted()
    assert sms.rt.dispatch().sent == 1
    sms.rt.store.suppress("ada@example.com", "hard_bounce", sms.clock.now)
    assert _inbound(sms, "UNSTOP")[0] == 200
    assert sms.rt.store.is_suppressed("ada@example.com", sms.clock.now)
    assert not sms.rt.store.lift_unsubscribe("ada@example.com")


def _unsubscribed_on_crm(sms: SmsLoop, contact: str) -> bool:
    props = sms.props(contact)
    if sms.crm.crm == "hubspot":
        return props.get("cl_feedback_unsubscribed") == "true"
    return bool(props.get("cl_feedback_unsubscribed_on"))


def test_metrics_show_texts_segments_deliveries_and_replies(sms: SmsLoop) -> None:
    """/metrics (scraped over HTTP, parsed by prometheus_client) carries the SMS figures of
    status: none before any text; after one text delivered and answered "4 great service":
    1 sent (0 outcome unknown), 1 segment, 1 delivered, 1 reply with a comment."""
    before = scrape(sms)
    assert [k for k in before if k[0].startswith("closedloop_sms_")] == []
    sms.texted()
    sms.rt.dispatch()
    assert sms.twilio.deliver(sms.twilio.messages[0].sid, "delivered") == 204
    assert _inbound(sms, "4 great service")[0] == 200
    after = scrape(sms)
    assert (value(after, "closedloop_sms_texts", status="sent"),
            value(after, "closedloop_sms_segments_sent"),
            value(after, "closedloop_sms_deliveries", status="delivered"),
            value(after, "closedloop_sms_replies", outcome="comment")) == (1, 1, 1, 1)
    assert value(after, "closedloop_sms_texts", status="outcome_unknown") == 0  # for alerts
