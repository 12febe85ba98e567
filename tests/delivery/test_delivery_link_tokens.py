"""The tokens in a mail's links are itsdangerous's own: TokenSigner.make writes them step by
step (no serializer and signer per token) and must write what URLSafeTimedSerializer.dumps
writes, for every purpose, send id, signing time and rotated secret; and they still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from closedloop.daemon.web.tokens import SALTS, Purpose, TokenSigner, _ClockSigner

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def itsdangerous_token(keys: list[str], purpose: Purpose, send_id: int, when: datetime) -> str:
    serializer = URLSafeTimedSerializer(keys, salt=SALTS[purpose], signer=_ClockSigner,
                                        signer_kwargs={"clock": lambda: when})
    return serializer.dumps(send_id)


@settings(max_examples=300, deadline=None)
@given(send_id=st.integers(-(2**63), 2**63 - 1) | st.integers(0, 10**11)
       | st.sampled_from([-1, 0, 1, 42, 999_999_999, 10**9, 1_111_111_111, 10**17, 10**18]),
       when=st.datetimes(datetime(1971, 1, 1), datetime(2200, 1, 1),
                         timezones=st.just(UTC) | st.just(timezone(timedelta(hours=5)))),
       purpose=st.sampled_from(list(Purpose)), rotated=st.booleans())
def test_made_tokens_are_itsdangerous_tokens(send_id: int, when: datetime, purpose: Purpose,
                                             rotated: bool) -> None:
    """Same token for any send id (9 and 10 digits, where compression may start; compressible
    ones; negative), signing time, purpose, and a
    secret rotated (signed with the newest)."""
    old = ("old-secret",) if rotated else ()
    signer = TokenSigner("secret", timedelta(days=30), old_secrets=old)
    assert signer.make(send_id, when, purpose=purpose) == \
        itsdangerous_token([*old, "secret"], purpose, send_id, when)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_undated_tokens_use_the_signers_clock_and_read_back(purpose: Purpose) -> None:
    """Without `issued_at` the signer's clock dates the token; it reads back for its own
    purpose only."""
    signer = TokenSigner("secret", timedelta(days=30), clock=lambda: NOW)
    token = signer.make(42, purpose=purpose)
    assert token == itsdangerous_token(["secret"], purpose, 42, NOW)
    assert signer.read(token, purpose=purpose) == 42


@pytest.mark.parametrize("send_id", [10**12, 10**18, 42])
def test_a_token_whose_payload_compresses_reads_back(send_id: int) -> None:
    """itsdangerous compresses a payload that shrinks (a leading dot): such tokens were
    refused as malformed by read(); every id made reads back as itself."""
    signer = TokenSigner("secret", timedelta(days=30))
    now = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    token = signer.make(send_id, now)
    assert (token.startswith("."), signer.read(token)) == (send_id >= 10**12, send_id)
