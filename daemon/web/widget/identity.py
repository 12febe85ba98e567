"""Identity verification: the site proves which signed-in person the page belongs to.

The site's server computes HMAC-SHA256(site secret, e-mail) and puts the hex digest in the
page beside the e-mail; nobody without the secret can produce it for another address, so a
visitor cannot answer (or read surveys) as someone else. The e-mail is hashed exactly as the
site passes it to `identify()` (UTF-8), so the site needs no normalisation rule; the daemon
normalises only afterwards, to find the person.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_EMAIL = 320  # RFC 5321's limit of a path; anything longer is refused before hashing


def identity_hash(secret: bytes, email: str) -> str:
    """The hex digest a site sends for `email` (the README shows it in Python, Node, PHP)."""
    return hmac.new(secret, email.encode("utf-8"), hashlib.sha256).hexdigest()


def verified(secret: bytes, email: str, given: str) -> bool:
    """True when `given` is the digest of `email` under `secret` (constant-time compare).

    Upper-case hex is accepted (some libraries print it so); anything that is not 64 hex
    digits, or an empty secret, is refused."""
    if not secret or not _HEX.match(given) or not email or len(email) > MAX_EMAIL:
        return False
    return hmac.compare_digest(identity_hash(secret, email), given.lower())
