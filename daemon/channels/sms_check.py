"""`closedloop check --online` for `[sms]`: ask Twilio what would otherwise fail at the
first text, with two reads and nothing sent.

1. The account (`GET /Accounts/{Sid}.json`): the auth token is accepted and the account is
   active (a suspended or closed account refuses every text).
2. The sender (`GET /Accounts/{Sid}/IncomingPhoneNumbers.json?PhoneNumber=`): `from_number`
   is a number of this account that can send SMS, and its "A message comes in" webhook points
   at `<public_url>/hooks/twilio/inbound` (else replies never reach the daemon: a warning, since
   a messaging service or a proxy may route them). A messaging service sender is not read (its
   API is another host); the line says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from closedloop.daemon.channels.settings import SmsSettings
from closedloop.daemon.channels.sms import INBOUND_PATH, twilio_client


@dataclass
class SmsCheck:
    """What the check found: lines that are fine, warnings, problems (exit 1)."""

    ok: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_sms_online(settings: SmsSettings, auth_token: str, public_url: str) -> SmsCheck:
    """Read the account and the sender number from Twilio (or the sandbox at base_url)."""
    result = SmsCheck()
    client = twilio_client(settings, auth_token)
    try:
        account = client.api.v2010.accounts(settings.account_sid).fetch()
        if account.status != "active":
            result.problems.append(f"sms: the Twilio account is {account.status}, not active: "
                                   "it sends no texts")
            return result
        result.ok.append("sms: Twilio account active, auth token accepted")
        if settings.from_number is None:
            result.ok.append("sms: sender is messaging service "
                             f"{settings.messaging_service_sid} (not read: another API host)")
            return result
        _sender(client, settings, public_url, result)
    except TwilioRestException as exc:
        result.problems.append(_refused(exc, settings))
    except (TwilioException, requests.exceptions.RequestException) as exc:
        result.problems.append(f"sms: cannot reach Twilio at {settings.base_url}: "
                               f"{type(exc).__name__}")
    return result


def _sender(client: Client, settings: SmsSettings, public_url: str, result: SmsCheck) -> None:
    numbers = client.api.v2010.accounts(settings.account_sid).incoming_phone_numbers.list(
            phone_number=settings.from_number, limit=1)
    if not numbers:
        result.problems.append(f"sms: from_number {settings.from_number} is not a number of "
                               f"account {settings.account_sid}: Twilio would refuse every "
                               "text (21606)")
        return
    number = numbers[0]
    if not (number.capabilities or {}).get("sms", False):
        result.problems.append(f"sms: from_number {settings.from_number} cannot send SMS")
        return
    result.ok.append(f"sms: from_number {settings.from_number} belongs to the account")
    inbound = public_url.rstrip("/") + INBOUND_PATH
    if (number.sms_url or "") != inbound:
        result.warnings.append(
            f"sms: replies to {settings.from_number} go to {number.sms_url or 'nowhere'!r}, "
            f"not {inbound}: set the number's \"A message comes in\" webhook to it, or "
            "replies (scores, STOP) never reach the daemon")


def _refused(exc: TwilioRestException, settings: SmsSettings) -> str:
    if exc.status == 401:
        return (f"sms: Twilio refused the auth token in {settings.auth_token_env} for "
                f"account {settings.account_sid} (20003)")
    return f"sms: Twilio answered {exc.status} ({exc.code}): {exc.msg}"
