"""Request signatures of the CRMs' webhooks, checked before a byte of the body is trusted.

- HubSpot v3 (`X-HubSpot-Signature-v3`): base64 of HMAC-SHA256, keyed with the app's client
  secret, over method + URI + body + `X-HubSpot-Request-Timestamp` (epoch milliseconds). The
  URI is the full one HubSpot called (scheme, host, path, query), with a fixed set of
  percent-encoded characters decoded first, as HubSpot's validation guide says.
- Zendesk (`X-Zendesk-Webhook-Signature`): base64 of HMAC-SHA256, keyed with the webhook's
  signing secret, over `X-Zendesk-Webhook-Signature-Timestamp` + body.

- Standard Webhooks (`POST /hooks/generic`, any other system): `webhook-signature` holds one
  or more space-separated `v1,<base64>` of HMAC-SHA256 over `webhook-id.webhook-timestamp.body`
  (timestamp in epoch seconds), keyed with the base64-decoded part of a `whsec_...` secret;
  one matching entry is enough (a sender rotating its secret signs with both).

Every timestamp must be within MAX_AGE of the wall clock (either way): a captured request
cannot be replayed later. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

MAX_AGE: Final = timedelta(minutes=5)

# HubSpot: "decode the following URL-encoded characters" before signing the URI.
_HUBSPOT_DECODED: Final = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!",
                           "%24": "$", "%27": "'", "%28": "(", "%29": ")", "%2A": "*",
                           "%2C": ",", "%3B": ";"}


class SignatureError(Exception):
    """The request is not provably from the CRM: answered 401, its body never logged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # missing_signature, bad_signature, bad_timestamp, stale


def hubspot_uri(uri: str) -> str:
    """The URI as HubSpot signs it: those percent-encodings decoded (either letter case)."""
    out = uri
    for encoded, char in _HUBSPOT_DECODED.items():
        out = out.replace(encoded, char).replace(encoded.lower(), char)
    return out


def _b64_hmac(secret: str, message: bytes) -> bytes:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature of one request (what the sandbox sends, what we expect)."""
    message = method.upper().encode() + hubspot_uri(uri).encode() + body + timestamp.encode()
    return _b64_hmac(secret, message).decode()


def zendesk(secret: str, body: bytes, timestamp: str) -> str:
    """The signature Zendesk puts in X-Zendesk-Webhook-Signature."""
    return _b64_hmac(secret, timestamp.encode() + body).decode()


def _fresh(when: datetime, now: datetime) -> None:
    if abs(now - when) > MAX_AGE:
        raise SignatureError("stale")


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def verify_hubspot(secret: str, method: str, uris: Iterable[str], body: bytes,
                   signature: str | None, timestamp: str | None, now: datetime) -> None:
    """Raise SignatureError unless the v3 signature matches one of `uris` (the public URL
    the CRM was given, and the URL as this process saw it) and the timestamp is fresh."""
    if not signature or not timestamp:
        raise SignatureError("missing_signature")
    if not timestamp.strip().isdigit() or len(timestamp.strip()) > 15:  # not epoch ms
        raise SignatureError("bad_timestamp")  # (datetime would overflow: a 500)
    _fresh(datetime.fromtimestamp(int(timestamp) / 1000, UTC), now)
    if not any(_same(hubspot_v3(secret, method, uri, body, timestamp.strip()), signature)
               for uri in dict.fromkeys(uris)):
        raise SignatureError("bad_signature")


def verify_zendesk(secret: str, body: bytes, signature: str | None, timestamp: str | None,
                   now: datetime) -> None:
    """Raise SignatureError unless Zendesk's signature matches and its timestamp is fresh."""
    if not signature or not timestamp:
        raise SignatureError("missing_signature")
    try:
        when = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SignatureError("bad_timestamp") from None
    _fresh(when if when.tzinfo else when.replace(tzinfo=UTC), now)
    if not _same(zendesk(secret, body, timestamp), signature):
        raise SignatureError("bad_signature")


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the `whsec_` prefix."""
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is whsec_ then base64") from None


def standard(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """One `v1,<base64>` entry of webhook-signature (what a sender puts there)."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(standard_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_standard(secret: str, body: bytes, msg_id: str | None, timestamp: str | None,
                    signature: str | None, now: datetime) -> None:
    """Raise SignatureError unless one `v1,` entry of `signature` matches and the timestamp
    (epoch seconds) is fresh; entries of other versions are ignored, as the spec says."""
    if not msg_id or not timestamp or not signature:
        raise SignatureError("missing_signature")
    stamp = timestamp.strip()
    if not stamp.isdigit() or len(stamp) > 12:  # beyond year 33658: not a timestamp
        raise SignatureError("bad_timestamp")
    _fresh(datetime.fromtimestamp(int(stamp), UTC), now)
    expected = standard(secret, msg_id, stamp, body)
    if not any(_same(expected, entry) for entry in signature.split()
               if entry.startswith("v1,")):
        raise SignatureError("bad_signature")
