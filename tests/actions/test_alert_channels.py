"""Alert channels against real receivers: a local HTTP server for Slack (Block Kit), Teams
(Adaptive Card) and the generic webhook (Standard Webhooks signature, verified with the
`standardwebhooks` library); aiosmtpd for e-mail. Failures: a Slack 400 goes dead with its
reason, an unreachable URL is retried with backoff, and a receiver failing half the time
still ends with every alert delivered exactly once."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from alert_support import T0, answer, receiver, rule
from standardwebhooks.webhooks import Webhook

from closedloop.daemon.actions.alerts.channels import EmailChannel, HttpChannel
from closedloop.daemon.actions.alerts.job import MAX_ATTEMPTS, deliver_alerts, evaluate_alerts
from closedloop.daemon.delivery.compose import Sender
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.store import Store

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
DETRACTOR = {"rule": "r", "answer": {"program": "support-csat", "score": 1,
                                     "category": "unsatisfied", "comment": "<!channel> slow",
                                     "ticket_id": "42", "source": "hubspot"}}


def test_slack_payload_is_block_kit() -> None:
    """Slack gets `text` plus header and section blocks; a comment cannot ping @channel."""
    with receiver() as got:
        HttpChannel(rule(channel="slack", url=got.url), got.url).deliver(1, "answer", DETRACTOR)
    (body,) = got.bodies()
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section"]
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": "Alert: r"}
    fields = [f["text"] for f in body["blocks"][2]["fields"]]
    assert fields == ["*Comment*\n&lt;!channel&gt; slow", "*Ticket*\nhubspot #42"]
    assert body["text"] == "Alert: r: New answer to support-csat: 1 (unsatisfied)"


def test_teams_payload_is_an_adaptive_card_message() -> None:
    """Teams gets a message with one Adaptive Card attachment holding the facts."""
    with receiver() as got:
        HttpChannel(rule(channel="teams", url=got.url), got.url).deliver(1, "answer", DETRACTOR)
    (body,) = got.bodies()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][-1] == {"type": "FactSet", "facts": [
        {"title": "Comment", "value": "<!channel> slow"},
        {"title": "Ticket", "value": "hubspot #42"}]}


def test_generic_webhook_is_signed_per_standard_webhooks() -> None:
    """The receiver verifies webhook-id/-timestamp/-signature with the library; the id is
    stable per alert (alert_<id>) so a retried delivery can be deduplicated."""
    with receiver() as got:
        channel = HttpChannel(rule(channel="webhook", url=got.url, secret_env="S"), got.url,
                              SECRET)
        channel.deliver(7, "answer", DETRACTOR)
    ((_, headers, body),) = got.requests
    verified = Webhook(SECRET).verify(body, {k.lower(): v for k, v in headers.items()})
    assert verified == {"type": "alert.answer", "id": 7, "data": DETRACTOR}
    assert headers["webhook-id"] == "alert_7"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook("whsec_" + base64.b64encode(b"another-secret-another-secret!!!").decode()
                ).verify(body, {k.lower(): v for k, v in headers.items()})


def test_email_is_html_and_text_in_the_rules_language() -> None:
    """A German rule's mail has a text and an HTML part, both in German, to every `to`."""
    with LocalMailSink(port=0) as sink:
        channel = EmailChannel(rule(channel="email", url=None, to=["ops@acme.example",
                                                                   "lead@acme.example"],
                                    language="de"),
                               SmtpSender("127.0.0.1", sink.port),
                               Sender("alerts@acme.example", "Acme"))
        channel.deliver(3, "answer", DETRACTOR)
        (msg,) = sink.messages
    assert msg["To"] == "ops@acme.example, lead@acme.example"
    assert msg["Subject"] == "Warnung: r"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Neue Antwort auf support-csat: 1 (unsatisfied)" in text
    assert "Kommentar: <!channel> slow" in text
    assert "&lt;!channel&gt; slow" in html
    assert '<html lang="de">' in html


def _queue(store: Store, n: int = 1) -> None:
    for _ in range(n):
        answer(store, T0, 1, comment="slow")


def test_slack_400_is_dead_with_its_reason(store: Store) -> None:
    """Slack refusing the payload (400 invalid_blocks) will refuse it again: dead at once,
    the status and reason kept for `status`."""
    with receiver(status_for=lambda n: 400, reply=b"invalid_blocks") as got:
        rules = (rule(categories=["unsatisfied"], url=got.url),)
        _queue(store)
        evaluate_alerts(store, rules, T0)
        result = deliver_alerts(store, {"r": HttpChannel(rules[0], got.url)}, T0)
    assert (result.delivered, result.retried, result.dead) == (0, 0, 1)
    (row,) = store.alert_rows()
    assert (row["status"], row["last_error"]) == ("dead", "HTTP 400: invalid_blocks")
    assert store.counts()["alerts.dead"] == 1


def test_unreachable_url_is_retried_with_backoff_then_dead(store: Store) -> None:
    """A refused connection is retried 30 s later, then 1 min ...; not before; dead after
    MAX_ATTEMPTS tries."""
    url = "http://127.0.0.1:9/hook"  # nothing listens on port 9
    rules = (rule(categories=["unsatisfied"], url=url),)
    channels = {"r": HttpChannel(rules[0], url)}
    _queue(store)
    evaluate_alerts(store, rules, T0)
    assert deliver_alerts(store, channels, T0).retried == 1
    assert deliver_alerts(store, channels, T0 + timedelta(seconds=29)).retried == 0
    assert deliver_alerts(store, channels, T0 + timedelta(seconds=30)).retried == 1
    assert store.counts()["alerts.retrying"] == 1
    now = T0 + timedelta(seconds=30)
    for _ in range(MAX_ATTEMPTS - 2):
        now += timedelta(hours=1)
        deliver_alerts(store, channels, now)
    (row,) = store.alert_rows()
    assert (row["status"], row["attempts"]) == ("dead", MAX_ATTEMPTS)
    assert row["last_error"].startswith("cannot reach the receiver")


def test_flaky_receiver_still_gets_every_alert_once(store: Store) -> None:
    """A receiver answering 503 to every other request: after the retries, each of 10
    alerts arrived exactly once (by webhook-id), none dead."""
    with receiver(status_for=lambda n: 503 if n % 2 == 0 else 200) as got:
        rules = (rule(categories=["unsatisfied"], channel="webhook", url=got.url,
                      secret_env="S", flood_max=100),)
        channels = {"r": HttpChannel(rules[0], got.url, SECRET)}
        _queue(store, 10)
        evaluate_alerts(store, rules, T0)
        now = T0
        for _ in range(10):
            deliver_alerts(store, channels, now)
            now += timedelta(hours=1)
    ids = [headers["webhook-id"] for _, headers, _ in got.requests]
    assert sorted(ids) == sorted(f"alert_{i}" for i in range(1, 11))
    assert store.counts()["alerts.delivered"] == 10
    assert store.counts()["alerts.dead"] == 0


def test_two_deliverers_never_send_the_same_alert(store: Store) -> None:
    """A second replica's claim skips rows the first one holds."""
    rules = (rule(categories=["unsatisfied"], flood_max=100),)
    _queue(store, 4)
    evaluate_alerts(store, rules, T0)
    _, first = store.claim_alerts(T0, 2, timedelta(minutes=2))
    _, second = store.claim_alerts(T0, 10, timedelta(minutes=2))
    assert ([r.id for r in first], [r.id for r in second]) == ([1, 2], [3, 4])


