"""Identity verification: the HMAC-SHA256 a site computes for its signed-in visitor."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from closedloop.daemon.web.widget.identity import MAX_EMAIL, identity_hash, verified

SECRET = b"a-long-random-site-secret-0123456789"


def test_digest_is_plain_hmac_sha256_hex() -> None:
    """What the README's Python, Node and PHP snippets compute: hex HMAC-SHA256(secret, email)."""
    expected = hmac.new(SECRET, b"ana@example.com", hashlib.sha256).hexdigest()
    assert identity_hash(SECRET, "ana@example.com") == expected
    # the same value Node's crypto.createHmac("sha256", s).update(e).digest("hex") gives
    assert identity_hash(b"key", "The quick brown fox jumps over the lazy dog") == \
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_the_right_digest_passes_and_one_changed_digit_fails() -> None:
    """Both sides of the check: the exact digest (any hex case) passes; the same digest with
    its last digit changed, or made with another secret, fails."""
    good = identity_hash(SECRET, "ana@example.com")
    last = "0" if good[-1] != "0" else "1"
    assert verified(SECRET, "ana@example.com", good) is True
    assert verified(SECRET, "ana@example.com", good.upper()) is True
    assert verified(SECRET, "ana@example.com", good[:-1] + last) is False
    assert verified(b"another-secret-another-secret-00", "ana@example.com", good) is False


def test_digest_binds_the_exact_address() -> None:
    """Another address, even one that normalizes to the same person, needs its own digest:
    the e-mail is hashed exactly as passed to identify()."""
    good = identity_hash(SECRET, "ana@example.com")
    assert verified(SECRET, "bo@example.com", good) is False
    assert verified(SECRET, "Ana@example.com", good) is False
    assert verified(SECRET, "Ana@example.com", identity_hash(SECRET, "Ana@example.com")) is True


@pytest.mark.parametrize("given", ["", "0" * 63, "0" * 65, "g" * 64, " " + "0" * 63])
def test_malformed_digests_are_refused(given: str) -> None:
    """Not 64 hex digits (one short, one long, non-hex, padded): refused before comparing."""
    assert verified(SECRET, "ana@example.com", given) is False


def test_empty_secret_or_oversized_address_is_refused() -> None:
    """An empty secret verifies nothing; an address at the length limit passes, one over it
    is refused."""
    longest = "a" * (MAX_EMAIL - len("@x.io")) + "@x.io"
    assert verified(b"", "ana@example.com", identity_hash(b"", "ana@example.com")) is False
    assert verified(SECRET, longest, identity_hash(SECRET, longest)) is True
    assert verified(SECRET, longest + "o", identity_hash(SECRET, longest + "o")) is False
