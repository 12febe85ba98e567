"""The Twilio sandbox: the Messages API the official client calls, and Twilio's webhooks.

Real paths and shapes: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded,
HTTP basic auth with the account SID and auth token) answers 201 with a message resource
(`sid` "SM..", `status` "queued", `num_segments` counted as carriers do); `GET
.../Messages/{Sid}.json` reads one back. Refusals in Twilio's error shape: 401 (code 20003)
for bad credentials, 404 (20404) for another account's path, 400 for a missing `To`
(21604) or body (21602), an invalid `To` (21211), a missing sender (21603); 21610 for a
number that texted STOP (Twilio blocks those itself). `GET /2010-04-01/Accounts/{Sid}.json`
(the account, `status` "active") and `GET .../IncomingPhoneNumbers.json?PhoneNumber=` (the
account's numbers with their `sms_url`) are what `closedloop check --online` reads.

Test hooks (Python, as the CRM sandboxes have): `messages` and the call counters;
`fail_next(status, code)` refuses the next sends; `set_faults` draws 5xx/429/slow/lost per
call (`lost` applies the send and loses the answer: the case outcome_unknown exists for);
`deliver(sid, status)` POSTs the message's StatusCallback; `inbound(from_, body, url)`
POSTs a reply to the daemon's webhook. Both are signed with `X-Twilio-Signature` exactly
as Twilio signs (HMAC-SHA1 with the auth token over the URL and the sorted parameters,
base64), and a STOP / START reply updates the opt-out list first, as Twilio does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from .._http import HttpError, Response, SandboxServer

API = "/2010-04-01"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")
_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/([^/]+)\.json$")
_NUMBERS = re.compile(r"^/2010-04-01/Accounts/([^/]+)/IncomingPhoneNumbers\.json$")
SENDER = "+15005550006"  # the number the sandbox account owns
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                        "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
GSM7 = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEF"
                 "GHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXT = frozenset("^{}\\[~]|€\f")
DEFAULT_SID = "AC" + "0" * 31 + "1"
DEFAULT_TOKEN = "sandbox-auth-token"  # noqa: S105 - the sandbox's own test credential


def sign(token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + each sorted name + its value))."""
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def segments_of(text: str) -> int:
    """The carriers' count: GSM-7 160/153 a segment, else UCS-2 70/67 (UTF-16 units)."""
    if all(c in GSM7 or c in GSM7_EXT for c in text):
        units, single, split = sum(2 if c in GSM7_EXT else 1 for c in text), 160, 153
    else:
        units, single, split = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // split)


@dataclass
class Message:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    segments: int
    created: datetime
    status_callback: str | None
    callbacks: list[int] = field(default_factory=list)  # HTTP statuses the callbacks got

    def resource(self, account: str) -> dict[str, Any]:
        stamp = format_datetime(self.created)
        return {
            "account_sid": account, "api_version": "2010-04-01", "body": self.body,
            "date_created": stamp, "date_updated": stamp, "date_sent": None,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": self.from_, "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0", "num_segments": str(self.segments), "price": None,
            "price_unit": "USD", "sid": self.sid, "status": self.status, "to": self.to,
            "uri": f"{API}/Accounts/{account}/Messages/{self.sid}.json",
            "subresource_uris": {"media": f"{API}/Accounts/{account}/Messages/{self.sid}"
                                          "/Media.json"},
        }


class TwilioError(HttpError):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.headers = status, {}
        self.body = {"code": code, "message": message, "status": status,
                     "more_info": f"https://www.twilio.com/docs/errors/{code}"}


class TwilioSandbox(SandboxServer):
    """Point the client at it with `client.api.base_url = sandbox.url`."""

    name: ClassVar[str] = "twilio"
    content_type: ClassVar[str] = "application/json; charset=utf-8"

    def __init__(self, account_sid: str = DEFAULT_SID, auth_token: str = DEFAULT_TOKEN,
                 port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__(host, port)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messages: list[Message] = []
        self.opted_out: set[str] = set()
        self.numbers: dict[str, str] = {SENDER: ""}  # the account's numbers -> their sms_url
        self.account_status = "active"
        self._failures: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------ test hooks
    def fail_next(self, status: int = 500, code: int = 20500, times: int = 1) -> None:
        """Refuse the next `times` sends with `status` and Twilio error `code`."""
        with self._lock:
            self._failures.extend([(status, code)] * times)

    def message(self, sid: str) -> Message:
        with self._lock:
            return next(m for m in self.messages if m.sid == sid)

    def deliver(self, sid: str, status: str = "delivered", error_code: str | None = None,
                token: str | None = None) -> int:
        """POST the message's StatusCallback as Twilio does; returns the HTTP status."""
        message = self.message(sid)
        message.status = status
        if not message.status_callback:
            raise ValueError("the message has no StatusCallback")
        params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                  "SmsStatus": status, "AccountSid": self.account_sid, "To": message.to,
                  "From": message.from_ or "", "ApiVersion": "2010-04-01"}
        if error_code:
            params["ErrorCode"] = error_code
        answer = self.post_signed(message.status_callback, params, token)
        message.callbacks.append(answer)
        return answer

    def inbound(self, from_: str, body: str, url: str, to: str = "+15005550006",
                token: str | None = None) -> tuple[int, str]:
        """A person texts `body`: Twilio's opt-out handling, then the signed webhook POST.
        `token` signs with another key (a forgery). Returns (HTTP status, response body)."""
        word = body.strip().upper()
        if word in STOP_WORDS:
            self.opted_out.add(from_)
        elif word in START_WORDS:
            self.opted_out.discard(from_)
        sid = "SM" + uuid.uuid4().hex
        params = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
                  "AccountSid": self.account_sid, "From": from_, "To": to, "Body": body,
                  "NumMedia": "0", "NumSegments": str(segments_of(body)),
                  "ApiVersion": "2010-04-01"}
        return self.post_signed_body(url, params, token)

    def post_signed(self, url: str, params: Mapping[str, str], token: str | None = None) -> int:
        return self.post_signed_body(url, params, token)[0]

    def post_signed_body(self, url: str, params: Mapping[str, str],
                         token: str | None = None) -> tuple[int, str]:
        signature = sign(token or self.auth_token, url, params)
        request = urllib.request.Request(  # noqa: S310 - a local test URL
            url, data=urlencode(params).encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return int(answer.status), answer.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode()
        except urllib.error.URLError as exc:  # nobody listens there: Twilio would log 11200
            return 0, str(exc.reason)

    # -------------------------------------------------------------- serving
    def _serve_request(self, method: str, target: str, headers: dict[str, str],
                       raw: bytes) -> Response:
        path = urlsplit(target).path
        if path == "/_sandbox/calls":
            return self._calls_endpoint(method)
        if path == "/_sandbox/faults":
            return self._faults_endpoint(method, raw)
        if path.startswith("/_sandbox/"):
            return self._admin(method, path, raw)
        if (found := _MESSAGES.match(path)) and method == "POST":
            return self._counted("POST /Messages.json", method, path, lambda: self._with_faults(
                path, lambda: self._create(found.group(1), headers, raw)))
        if method == "GET":
            return self._read(path, target, headers)
        return Response(404, TwilioError(404, 20404, "The requested resource was not found")
                        .body)

    def _read(self, path: str, target: str, headers: Mapping[str, str]) -> Response:
        """The GETs: a message, the account, the account's numbers."""
        if one := _MESSAGE.match(path):
            return self._counted("GET /Messages/{Sid}.json", "GET", path,
                                 lambda: self._fetch(one.group(1), one.group(2), headers))
        if account := _ACCOUNT.match(path):
            return self._counted("GET /Accounts/{Sid}.json", "GET", path,
                                 lambda: self._account(account.group(1), headers))
        if owned := _NUMBERS.match(path):
            return self._counted("GET /IncomingPhoneNumbers.json", "GET", path,
                                 lambda: self._numbers(owned.group(1), target, headers))
        return Response(404, TwilioError(404, 20404, "The requested resource was not found")
                        .body)

    def _admin(self, method: str, path: str, raw: bytes) -> Response:
        """Test hooks over HTTP (uncounted), for `closedloop sandbox twilio`: GET messages;
        POST inbound {"from", "body", "url"}; POST deliver {"sid", "status"}."""
        if path == "/_sandbox/messages" and method == "GET":
            with self._lock:
                return Response(200, {"messages": [m.resource(self.account_sid)
                                                   for m in self.messages]})
        try:
            body = json.loads(raw or b"{}")
            if path == "/_sandbox/inbound" and method == "POST":
                status, text = self.inbound(str(body["from"]), str(body["body"]),
                                            str(body["url"]))
                return Response(200, {"status": status, "response": text})
            if path == "/_sandbox/deliver" and method == "POST":
                return Response(200, {"status": self.deliver(str(body["sid"]),
                                                             str(body.get("status", "delivered")))})
        except (ValueError, KeyError, StopIteration) as exc:
            return Response(400, {"error": "bad test-hook request", "detail": repr(exc)})
        return Response(404, {"error": f"no test hook {method} {path}"})

    def _bug_response(self) -> Response:
        return Response(500, TwilioError(500, 20500, "Internal Server Error").body)

    def _fault_response(self, status: int, path: str, retry_after: float) -> Response:
        code = 20429 if status == 429 else 20500
        extra = {"Retry-After": f"{retry_after:g}"} if status == 429 else {}
        return Response(status, TwilioError(status, code, "injected fault").body, extra)

    def _authorize(self, account: str, headers: Mapping[str, str]) -> None:
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if not hmac.compare_digest(headers.get("authorization", ""), expected):
            raise TwilioError(401, 20003, "Authenticate")
        if account != self.account_sid:
            raise TwilioError(404, 20404, f"The requested resource {API}/Accounts/{account}"
                                          "/Messages.json was not found")

    def _create(self, account: str, headers: Mapping[str, str], raw: bytes) -> Response:
        self._authorize(account, headers)
        with self._lock:
            if self._failures:
                status, code = self._failures.pop(0)
                raise TwilioError(status, code, "failure on demand")
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        to, body = form.get("To", ""), form.get("Body", "")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            raise TwilioError(400, 21603, "The source 'from' phone number is required to "
                                          "send an SMS")
        if to in self.opted_out:
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
        message = Message("SM" + uuid.uuid4().hex, to, form.get("From"),
                          form.get("MessagingServiceSid"), body, "queued", segments_of(body),
                          datetime.now(UTC), form.get("StatusCallback"))
        with self._lock:
            self.messages.append(message)
        return Response(201, message.resource(self.account_sid))

    def _account(self, account: str, headers: Mapping[str, str]) -> Response:
        self._authorize(account, headers)
        return Response(200, {"sid": account, "friendly_name": "Sandbox account",
                              "status": self.account_status, "type": "Full",
                              "uri": f"{API}/Accounts/{account}.json"})

    def _numbers(self, account: str, target: str, headers: Mapping[str, str]) -> Response:
        self._authorize(account, headers)
        wanted = dict(parse_qsl(urlsplit(target).query)).get("PhoneNumber")
        uri = f"{API}/Accounts/{account}/IncomingPhoneNumbers.json"
        with self._lock:
            found = [{"sid": "PN" + hashlib.md5(n.encode()).hexdigest(),  # noqa: S324 - an id
                      "account_sid": account, "phone_number": n, "sms_url": url,
                      "sms_method": "POST", "capabilities": {"sms": True, "voice": True}}
                     for n, url in sorted(self.numbers.items()) if wanted in (None, n)]
        return Response(200, {"incoming_phone_numbers": found, "end": len(found) - 1,
                               "first_page_uri": uri, "next_page_uri": None, "page": 0,
                               "page_size": 50, "previous_page_uri": None, "start": 0,
                               "uri": uri})

    def _fetch(self, account: str, sid: str, headers: Mapping[str, str]) -> Response:
        self._authorize(account, headers)
        with self._lock:
            found = next((m for m in self.messages if m.sid == sid), None)
        if found is None:
            raise TwilioError(404, 20404, f"The requested resource {sid} was not found")
        return Response(200, found.resource(self.account_sid))
