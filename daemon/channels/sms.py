"""The SMS channel: Twilio's Messages API through the official `twilio` client.

The client is pointed at `[sms] base_url` (the bundled sandbox gateway for the demo and the
tests) by setting the API domain's `base_url`, the one place twilio-python joins every
resource path to (twilio.base.domain.Domain.absolute_url); region and edge stay unset so
the client does not rewrite the host. Its HTTP client gets a timeout and no retries: a POST
that may have reached Twilio is never repeated (at most once), it becomes outcome_unknown.

What Twilio's answer means for the row:
- 201: sent; the SID is kept (status callbacks name it).
- 429, 503: Twilio did not take it: tried again later. 401/403 (our credentials): the
  batch is handed back. Other 4xx: refused for good (21610: the number opted out with
  Twilio: the number is suppressed here too).
- the connection could not be made: nothing left: the batch is handed back.
- any other failure after the request went out (timeout, 500/502/504, a dropped
  connection): outcome unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from closedloop.daemon.channels import ChannelDown, HandOver, NotTaken, OutcomeUnknown
from closedloop.daemon.channels.settings import SmsSettings
from closedloop.daemon.channels.sms_text import survey_text
from closedloop.daemon.i18n import negotiate
from closedloop.daemon.store import SendRecord, Store
from closedloop.daemon.store.sms import prepare_message, set_sid
from closedloop.daemon.surveys import Program

RETRY = timedelta(minutes=5)  # Twilio said "not now" (429, 503)
OPTED_OUT = 21610  # Twilio: "Attempt to send to unsubscribed recipient"
STATUS_PATH = "/hooks/twilio/status"
INBOUND_PATH = "/hooks/twilio/inbound"


def twilio_client(settings: SmsSettings, auth_token: str) -> Client:
    """The official client, aimed at `settings.base_url`, with a timeout and no retries."""
    client = Client(settings.account_sid, auth_token,
                    http_client=TwilioHttpClient(timeout=settings.timeout.total_seconds()))
    client.api.base_url = settings.base_url.rstrip("/")
    return client


@dataclass(frozen=True)
class SmsMessage:
    """A composed survey text: what goes to Twilio, and what status counts."""

    to: str
    body: str
    segments: int
    encoding: str
    code: str


class SmsChannel:
    """Compose and send survey texts; the `Channel` protocol of daemon.channels."""

    name = "sms"

    def __init__(self, store: Store, settings: SmsSettings, client: Client, *,
                 public_url: str, fallback_language: str = "en") -> None:
        self.store = store
        self.settings = settings
        self.client = client
        self.public_url = public_url.rstrip("/")
        self.fallback_language = fallback_language

    def compose(self, row: SendRecord, program: Program, now: datetime) -> SmsMessage:
        """The text in the person's language with its short link (/s/<code>, random, kept
        in the store before the send so the link works as soon as the text arrives)."""
        if not row.phone:
            raise ValueError("the row has no phone number")
        language = negotiate(row.language, self.fallback_language)
        probe = survey_text(program, language, self._link("X" * 10))  # the code's length
        code = prepare_message(self.store.engine, row.id, row.phone,
                               probe.segments.count, probe.segments.encoding, now)
        text = survey_text(program, language, self._link(code))
        return SmsMessage(row.phone, text.text, text.segments.count, text.segments.encoding,
                          code)

    def ready(self) -> None:
        """Nothing to open: each send is one HTTPS request on the client's pool."""

    def send(self, row: SendRecord, message: SmsMessage, handed_over: HandOver,
             now: datetime) -> str | None:
        """POST the message; returns its SID. Raises a daemon.channels outcome otherwise."""
        if not handed_over():
            return None
        sender: dict[str, Any] = (
            {"messaging_service_sid": self.settings.messaging_service_sid}
            if self.settings.messaging_service_sid else {"from_": self.settings.from_number})
        try:
            created = self.client.messages.create(
                to=message.to, body=message.body,
                status_callback=f"{self.public_url}{STATUS_PATH}", **sender)
        except TwilioRestException as exc:
            raise _refusal(exc) from None
        except requests.exceptions.ConnectTimeout as exc:
            raise ChannelDown(f"Twilio unreachable: {type(exc).__name__}") from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise ChannelDown(f"Twilio unreachable: {type(exc).__name__}") from None
            raise OutcomeUnknown(f"connection lost: {type(exc).__name__}") from None
        except (requests.exceptions.RequestException, TwilioException) as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}") from None
        sid = str(created.sid)
        set_sid(self.store.engine, row.id, sid, str(created.status or "queued"), now)
        return sid

    def close(self) -> None:
        """Close the client's pooled connections (the runtime is closing)."""
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()

    def _link(self, code: str) -> str:
        return f"{self.public_url}/s/{code}"


def _refusal(exc: TwilioRestException) -> Exception:
    status = int(exc.status)
    if status in (401, 403):
        return ChannelDown(f"Twilio refused our credentials (HTTP {status})")
    if status in (429, 503):
        return NotTaken(f"Twilio HTTP {status}: not now", retry_after=RETRY)
    if 400 <= status < 500:
        # Twilio's text may quote the number: the code says it all (logs never name a person)
        return NotTaken(f"Twilio error {exc.code} (HTTP {status})",
                        unsubscribed=exc.code == OPTED_OUT)
    return OutcomeUnknown(f"Twilio HTTP {status}")


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused, no route): nothing was sent."""
    seen: BaseException | None = exc
    while seen is not None:
        reason = getattr(seen, "reason", None)
        name = type(seen).__name__
        if name in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError"):
            return True
        if isinstance(seen, requests.exceptions.ConnectionError) and seen.args:
            first = seen.args[0]
            seen = first if isinstance(first, BaseException) else None
            continue
        seen = reason if isinstance(reason, BaseException) else seen.__cause__
    return False
