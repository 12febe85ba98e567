"""The Twilio sandbox against the official client and the official signature validator."""

from __future__ import annotations

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from closedloop.daemon.channels.settings import SmsSettings
from closedloop.daemon.channels.sms import twilio_client
from closedloop.integration.sandbox.twilio import TwilioSandbox, sign


def test_signatures_match_twilios_own_vector() -> None:
    """The sandbox signs as Twilio does: the example of Twilio's docs and client tests."""
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
              "To": "+18005551212", "Caller": "+14158675309"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert RequestValidator("12345").validate(url, params, sign("12345", url, params))


@pytest.fixture
def sandbox() -> TwilioSandbox:
    with TwilioSandbox() as running:
        yield running


def _client(sandbox: TwilioSandbox, token: str | None = None):  # type: ignore[no-untyped-def]
    settings = SmsSettings(account_sid=sandbox.account_sid, from_number="+15005550006",
                           base_url=sandbox.url)
    return twilio_client(settings, token or sandbox.auth_token)


def test_the_real_client_sends_through_the_sandbox(sandbox: TwilioSandbox) -> None:
    """The official client, aimed with `api.base_url`, POSTs to the real path form-encoded;
    the answer is Twilio's message resource."""
    created = _client(sandbox).messages.create(to="+14155550100", from_="+15005550006",
                                               body="Hello [1]")
    assert (created.status, created.num_segments, created.to) == ("queued", "1", "+14155550100")
    assert created.sid.startswith("SM")
    assert sandbox.calls == {"POST /Messages.json": 1}
    fetched = _client(sandbox).messages(created.sid).fetch()
    assert fetched.body == "Hello [1]"


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"to": "12"}, 400, 21211),
    ({"body": ""}, 400, 21602),
])
def test_refusals_in_twilios_shape(sandbox: TwilioSandbox, kwargs: dict[str, str],
                                   status: int, code: int) -> None:
    """A bad number or an empty body: Twilio's status and error code."""
    args = {"to": "+14155550100", "from_": "+15005550006", "body": "x", **kwargs}
    with pytest.raises(TwilioRestException) as caught:
        _client(sandbox).messages.create(**args)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_bad_credentials_and_failures_on_demand(sandbox: TwilioSandbox) -> None:
    """Basic auth is checked (401, 20003); `fail_next` refuses the next send as asked."""
    with pytest.raises(TwilioRestException) as caught:
        _client(sandbox, "wrong").messages.create(to="+14155550100", from_="+15005550006",
                                                  body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    sandbox.fail_next(429, 20429)
    with pytest.raises(TwilioRestException) as limited:
        _client(sandbox).messages.create(to="+14155550100", from_="+15005550006", body="x")
    assert limited.value.status == 429
    assert sandbox.messages == []


def test_a_number_that_texted_stop_is_blocked(sandbox: TwilioSandbox) -> None:
    """Twilio blocks a number that texted STOP itself: 21610 until it texts START."""
    sandbox.inbound("+14155550100", "STOP", "http://127.0.0.1:9/unused")
    with pytest.raises(TwilioRestException) as caught:
        _client(sandbox).messages.create(to="+14155550100", from_="+15005550006", body="x")
    assert caught.value.code == 21610


def test_http_test_hooks(sandbox: TwilioSandbox) -> None:
    """`closedloop sandbox twilio` users list the texts over HTTP; a bad hook body is a
    400 that says so; hooks are not counted as API calls."""
    _client(sandbox).messages.create(to="+14155550100", from_="+15005550006", body="Hi")
    with httpx.Client(base_url=sandbox.url, timeout=5) as web:
        listed = web.get("/_sandbox/messages").json()["messages"]
        bad = web.post("/_sandbox/inbound", json={"from": "+14155550100"})
    assert [(m["to"], m["body"]) for m in listed] == [("+14155550100", "Hi")]
    assert (bad.status_code, bad.json()["error"]) == (400, "bad test-hook request")
    assert sandbox.total_calls() == 1
