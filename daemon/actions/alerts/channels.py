"""Where an alert goes: e-mail, Slack, Microsoft Teams, or a generic signed webhook.

Every channel has one method, `deliver(alert_id, kind, payload)`, and raises `ChannelError`
with the HTTP status (if any), a short reason and whether a retry can help: a timeout, a
refused connection, a 408/429 or a 5xx can; a 400 (Slack's `invalid_blocks`) or a 404 (a
deleted webhook) cannot, and the row goes dead at once with the reason kept for `status`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any, Protocol

import httpx
from standardwebhooks.webhooks import Webhook

from closedloop.daemon.actions.alerts.message import AlertText, describe
from closedloop.daemon.actions.alerts.settings import AlertSettings
from closedloop.daemon.delivery.compose import Sender
from closedloop.daemon.delivery.smtp import MailError, MailTemporaryError, SmtpSender
from closedloop.daemon.i18n import jinja_environment, negotiate
from closedloop.integration.errors import ClosedLoopError

_TEMPLATES = "closedloop.daemon.actions.alerts"
_RETRYABLE = {408, 425, 429}
MAX_REASON = 120


class ChannelError(ClosedLoopError):
    """A delivery failed: `status` (HTTP, or None), a short `reason`, and `retryable`."""

    def __init__(self, reason: str, status: int | None = None, retryable: bool = True) -> None:
        self.status = status
        self.reason = reason
        self.retryable = retryable
        super().__init__(f"HTTP {status}: {reason}" if status else reason)


class Channel(Protocol):
    @property
    def timeout(self) -> float:
        """The longest one delivery can take, in seconds (the claim's lease covers it)."""
        ...

    def deliver(self, alert_id: int, kind: str, payload: dict[str, Any]) -> None: ...


def slack_message(text: AlertText) -> dict[str, Any]:
    """A Slack incoming-webhook body: Block Kit blocks, plus `text` for notifications."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack("\n".join(text.lines))}},
    ]
    if text.facts:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{_slack(label)}*\n{_slack(value)[:1900]}"}
            for label, value in text.facts[:10]]})
    return {"text": f"{text.title}: {' '.join(text.lines)}"[:3000], "blocks": blocks}


def teams_message(text: AlertText) -> dict[str, Any]:
    """A Teams incoming-webhook body: a message whose attachment is an Adaptive Card."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": text.title, "weight": "Bolder", "size": "Medium",
         "wrap": True},
        *({"type": "TextBlock", "text": line, "wrap": True} for line in text.lines),
    ]
    if text.facts:
        body.append({"type": "FactSet", "facts": [{"title": label, "value": value}
                                                  for label, value in text.facts]})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4", "body": body}
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}


def _slack(text: str) -> str:
    """Slack mrkdwn escapes only &, < and > (so a comment cannot ping @channel or link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class HttpChannel:
    """Slack, Teams or a generic webhook: one JSON POST per alert."""

    rule: AlertSettings
    url: str
    secret: str | None = None
    client: httpx.Client | None = None

    @property
    def timeout(self) -> float:
        return self.rule.timeout.total_seconds()

    def body(self, alert_id: int, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.rule.channel == "webhook":
            return {"type": f"alert.{kind}", "id": alert_id, "data": payload}
        text = describe(kind, payload, self.rule.language)
        return slack_message(text) if self.rule.channel == "slack" else teams_message(text)

    def deliver(self, alert_id: int, kind: str, payload: dict[str, Any]) -> None:
        content = json.dumps(self.body(alert_id, kind, payload), ensure_ascii=False,
                             separators=(",", ":"))
        headers = {"content-type": "application/json"}
        if self.rule.channel == "webhook":
            assert self.secret is not None  # validated at load
            when = datetime.now(UTC)
            msg_id = f"alert_{alert_id}"
            headers.update({
                "webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
                "webhook-signature": Webhook(self.secret).sign(msg_id, when, content)})
        client = self.client or httpx.Client(timeout=self.rule.timeout.total_seconds())
        try:
            answer = client.post(self.url, content=content.encode(), headers=headers)
        except httpx.TimeoutException:
            raise ChannelError("timed out") from None
        except httpx.HTTPError as exc:
            raise ChannelError(f"cannot reach the receiver ({type(exc).__name__})") from None
        finally:
            if self.client is None:
                client.close()
        if answer.status_code >= 300:
            reason = " ".join(answer.text.split())[:MAX_REASON] or answer.reason_phrase
            raise ChannelError(reason, answer.status_code,
                               retryable=answer.status_code >= 500
                               or answer.status_code in _RETRYABLE)


@dataclass
class EmailChannel:
    """HTML + text mail to the rule's `to`, in its `language`, through the daemon's relay."""

    rule: AlertSettings
    mailer: SmtpSender
    sender: Sender

    @property
    def timeout(self) -> float:
        return self.mailer.timeout * 3  # connect, then each SMTP step

    def compose(self, alert_id: int, kind: str, payload: dict[str, Any]) -> EmailMessage:
        language = negotiate(self.rule.language)
        text = describe(kind, payload, language)
        env = jinja_environment(_TEMPLATES, language)
        values = {"text": text, "rule": self.rule.name, "language": language}
        msg = EmailMessage()
        msg["Subject"] = " ".join(text.title.split())[:200]
        msg["From"] = formataddr((self.sender.name, self.sender.address))
        msg["To"] = ", ".join(self.rule.to)
        msg["Message-ID"] = make_msgid(f"alert{alert_id}", domain=self.sender.domain)
        msg.set_content(env.get_template("alert.txt").render(values))
        msg.add_alternative(env.get_template("alert.html").render(values), subtype="html")
        return msg

    def deliver(self, alert_id: int, kind: str, payload: dict[str, Any]) -> None:
        try:
            self.mailer.send(self.compose(alert_id, kind, payload))
        except MailTemporaryError as exc:
            raise ChannelError(f"mail relay: {exc}") from None
        except MailError as exc:
            raise ChannelError(f"mail relay refused: {exc}", retryable=False) from None


def build_channels(rules: tuple[AlertSettings, ...], urls: dict[str, tuple[str, str | None]],
                   mailer: SmtpSender, sender: Sender) -> dict[str, Channel]:
    """rule name -> its channel; `urls` from settings.channel_secrets()."""
    channels: dict[str, Channel] = {}
    for rule in rules:
        if rule.channel == "email":
            channels[rule.name] = EmailChannel(rule, mailer, sender)
        else:
            url, secret = urls[rule.name]
            channels[rule.name] = HttpChannel(rule, url, secret)
    return channels
