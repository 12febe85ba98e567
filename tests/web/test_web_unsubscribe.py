"""The unsubscribe page over real HTTP: "not for a while" beside "never again", RFC 8058
one-click, what a GET may not do, and what reaches the CRM (the 'preference' write-back)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from web_support import NOW, AddSend, ServeWith, heading

from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Suppression, WriteBack
from closedloop.daemon.surveys import Policy
from closedloop.daemon.web.tokens import Purpose, TokenSigner

SNOOZE_END = NOW + timedelta(days=182)  # Policy's default "not for a while"


def unsubscribe_token(signer: TokenSigner, send_id: int) -> str:
    """The token of a mail's unsubscribe link (its own purpose, as links.unsubscribe_url)."""
    return signer.make(send_id, purpose=Purpose.UNSUBSCRIBE)


def suppression(store: Store, email: str) -> tuple[str, datetime | None] | None:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(Suppression.reason, Suppression.until).where(Suppression.email == email)
        ).first()
    if row is None:
        return None
    until = row.until.replace(tzinfo=UTC) if row.until and row.until.tzinfo is None else row.until
    return row.reason, until


def preference_rows(store: Store) -> list[tuple[str, str, int | None, dict[str, Any]]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(WriteBack.source, WriteBack.contact_id, WriteBack.send_id, WriteBack.data)
            .where(WriteBack.kind == "preference").order_by(WriteBack.id)
        ).all()
    return [(r.source, r.contact_id, r.send_id, r.data) for r in rows]


# -- GET only asks ---------------------------------------------------------------------------


def test_get_and_head_offer_both_choices_and_record_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A scanner's GET or HEAD (twice) shows the choice and changes nothing at all."""
    token = unsubscribe_token(signer, add_send(email="ana@example.test"))
    for _ in range(2):
        page = client.get(f"/u/{token}")
        assert client.head(f"/u/{token}").status_code == 200
    assert page.status_code == 200
    primary = '<button type="submit" name="choice" value="unsubscribe">Unsubscribe</button>'
    secondary = ('<button type="submit" name="choice" value="snooze" class="secondary">'
                 "Only pause them until August 31, 2026</button>")  # NOW + 182 days
    assert primary in page.text
    assert secondary in page.text
    assert suppression(store, "ana@example.test") is None
    assert preference_rows(store) == []


def test_the_snooze_date_is_the_contacts_local_day_in_their_language(
    serve_with: ServeWith, signer: TokenSigner, add_send: AddSend
) -> None:
    """Snooze of 10 days from 09:00 UTC on 2 March: 12 March in UTC, but already 13 March in
    Auckland (UTC+13); the date is spelled the reader's way."""
    policy = Policy(snooze=timedelta(days=10, hours=4))
    auckland = unsubscribe_token(signer, add_send(language="nb", timezone="Pacific/Auckland"))
    nowhere = unsubscribe_token(signer, add_send(language="de", timezone="Not/AZone"))
    with serve_with(policy=policy) as client:
        assert "Bare sett dem på pause til 13. mars 2026" in client.get(f"/u/{auckland}").text
        assert "Nur bis zum 12. März 2026 pausieren" in client.get(f"/u/{nowhere}").text


# -- POST records ----------------------------------------------------------------------------


def test_snooze_suppresses_until_the_policy_length_and_tells_the_crm(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """"Not for a while": suppressed until now + Policy.snooze, the page says until when, and
    a 'preference' write-back for the send's contact carries the same date."""
    send_id = add_send(email="Ana@Example.test")
    page = client.post(f"/u/{unsubscribe_token(signer, send_id)}", data={"choice": "snooze"})
    assert (page.status_code, heading(page)) == (200, "Surveys paused")
    assert "You will not receive surveys from Acme until August 31, 2026." in page.text
    assert suppression(store, "ana@example.test") == ("snoozed", SNOOZE_END)
    assert store.is_suppressed("ana@example.test", SNOOZE_END - timedelta(seconds=1)) is True
    assert store.is_suppressed("ana@example.test", SNOOZE_END) is False
    data = {"unsubscribed": False, "snoozed_until": SNOOZE_END.isoformat(),
            "updated_at": NOW.isoformat()}
    assert preference_rows(store) == [("hubspot", f"c{send_id}", send_id, data)]


def test_never_again_suppresses_for_good_and_tells_the_crm(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """"Never again": suppressed with no end; the CRM learns unsubscribed = true."""
    send_id = add_send(email="ana@example.test")
    page = client.post(f"/u/{unsubscribe_token(signer, send_id)}", data={"choice": "unsubscribe"})
    assert (page.status_code, heading(page)) == (200, "You are unsubscribed")
    assert suppression(store, "ana@example.test") == ("unsubscribed", None)
    data = {"unsubscribed": True, "snoozed_until": None, "updated_at": NOW.isoformat()}
    assert preference_rows(store) == [("hubspot", f"c{send_id}", send_id, data)]


def test_snooze_after_never_again_does_not_weaken_it(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A later "not for a while" (an older mail's link) leaves "never again" in force, says
    so, and sends the CRM nothing new."""
    first = unsubscribe_token(signer, add_send(email="ana@example.test"))
    second = unsubscribe_token(signer, add_send(email="ANA@example.test"))
    client.post(f"/u/{first}", data={"choice": "unsubscribe"})
    page = client.post(f"/u/{second}", data={"choice": "snooze"})
    assert heading(page) == "You are unsubscribed"
    assert suppression(store, "ana@example.test") == ("unsubscribed", None)
    assert [d["unsubscribed"] for _, _, _, d in preference_rows(store)] == [True]


def test_never_again_after_a_snooze_makes_it_permanent(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Snoozed, then "never again": permanent, and the CRM gets both changes in order."""
    token = unsubscribe_token(signer, add_send(email="ana@example.test"))
    client.post(f"/u/{token}", data={"choice": "snooze"})
    client.post(f"/u/{token}", data={"choice": "unsubscribe"})
    assert suppression(store, "ana@example.test") == ("unsubscribed", None)
    assert [(d["unsubscribed"], d["snoozed_until"]) for _, _, _, d in preference_rows(store)] == [
        (False, SNOOZE_END.isoformat()), (True, None)]


# -- RFC 8058 one-click ------------------------------------------------------------------------


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_one_click_post_unsubscribes_without_a_redirect(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    multipart: bool,
) -> None:
    """`List-Unsubscribe=One-Click`, url-encoded or multipart (RFC 8058 allows both), means
    "never again": 200, no redirect to follow, and a retried POST queues nothing twice."""
    token = unsubscribe_token(signer, add_send(email="ana@example.test"))
    for _ in range(2):
        if multipart:
            page = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
        else:
            page = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert (page.status_code, page.headers.get("location")) == (200, None)
    assert suppression(store, "ana@example.test") == ("unsubscribed", None)
    assert len(preference_rows(store)) == 1


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{}, {"choice": "forever"}, {"choice": ""}, {"List-Unsubscribe": "Yes"}]
)
def test_unknown_choice_shows_the_choice_again_with_400(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    body: dict[str, str],
) -> None:
    """No choice or a made-up one records nothing and asks again, with a 400."""
    token = unsubscribe_token(signer, add_send(email="ana@example.test"))
    page = client.post(f"/u/{token}", data=body)
    assert page.status_code == 400
    assert "Please choose one of the options below." in page.text
    assert 'value="snooze"' in page.text
    assert suppression(store, "ana@example.test") is None
    assert preference_rows(store) == []


def _chunks(size: int) -> Iterator[bytes]:
    yield b"choice=unsubscribe&pad="
    for _ in range(size // 1024):
        yield b"x" * 1024


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_huge_body_is_refused_with_413(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend, chunked: bool
) -> None:
    """A 1 MB body is refused whether it announces its length or streams without one."""
    token = unsubscribe_token(signer, add_send(email="ana@example.test"))
    content: Any = _chunks(1 << 20) if chunked else b"".join(_chunks(1 << 20))
    page = client.post(f"/u/{token}", content=content,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert page.status_code == 413
    assert heading(page) == "Your message is too long"
    assert suppression(store, "ana@example.test") is None


def test_forged_and_unknown_tokens_change_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A forged signature is 400, a genuine token for a send that does not exist is 404."""
    send_id = add_send(email="ana@example.test")
    forged = TokenSigner("attacker", timedelta(days=30)).make(send_id)
    page = client.post(f"/u/{forged}", data={"List-Unsubscribe": "One-Click"})
    assert page.status_code == 400
    page = client.post(f"/u/{unsubscribe_token(signer, 999)}", data={"choice": "unsubscribe"})
    assert page.status_code == 404
    assert suppression(store, "ana@example.test") is None
    assert preference_rows(store) == []


def test_expired_link_still_snoozes(
    client: httpx.Client, store: Store, add_send: AddSend
) -> None:
    """An old mail's link still carries a genuine signature: honour the choice late."""
    send_id = add_send(email="old@example.test")
    old = TokenSigner("test-secret", timedelta(days=30), clock=lambda: NOW - timedelta(days=90))
    page = client.post(f"/u/{unsubscribe_token(old, send_id)}", data={"choice": "snooze"})
    assert page.status_code == 200
    assert suppression(store, "old@example.test") == ("snoozed", SNOOZE_END)
