"""Token purposes over real HTTP: a token works only at the endpoints of its own purpose.

The unsubscribe link (also the List-Unsubscribe header) once carried the answer token, so
`POST /r/<unsubscribe token>/3` recorded a score. Every endpoint is tried here with a token
of every other purpose: each answers the "link not valid" page (400) and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select
from web_support import NOW, AddSend, heading

from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Response as ResponseRow
from closedloop.daemon.store.tables import WriteBack
from closedloop.daemon.web.links import score_url, unsubscribe_url
from closedloop.daemon.web.tokens import LEGACY_SALT, Purpose, TokenSigner

# (method, path, form) of every endpoint that reads a token, by the purpose it serves.
ENDPOINTS: dict[Purpose, list[tuple[str, str, dict[str, str] | None]]] = {
    Purpose.ANSWER: [
        ("GET", "/r/{token}/3", None),
        ("HEAD", "/r/{token}/3", None),
        ("POST", "/r/{token}/3", None),
        ("GET", "/c/{token}", None),
        ("POST", "/c/{token}", {"comment": "hello"}),
        ("GET", "/t/{token}", None),
    ],
    Purpose.UNSUBSCRIBE: [
        ("GET", "/u/{token}", None),
        ("HEAD", "/u/{token}", None),
        ("POST", "/u/{token}", {"choice": "unsubscribe"}),
        ("POST", "/u/{token}", {"choice": "snooze"}),
        ("POST", "/u/{token}", {"List-Unsubscribe": "One-Click"}),
    ],
}
CROSS = [
    pytest.param(made, method, path, form, id=f"{made}-token {method} {path} {form or ''}")
    for made in Purpose
    for purpose, endpoints in ENDPOINTS.items() if purpose != made
    for method, path, form in endpoints
]


def count(store: Store, table: type[ResponseRow] | type[WriteBack]) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def test_every_purpose_has_endpoints() -> None:
    """The table above covers every purpose (a new one must be added to it)."""
    assert set(Purpose) == set(ENDPOINTS)


@pytest.mark.parametrize(("made", "method", "path", "form"), CROSS)
def test_token_of_another_purpose_is_refused_and_changes_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    made: Purpose, method: str, path: str, form: dict[str, str] | None,
) -> None:
    """A genuine token used at an endpoint of another purpose is "not valid" (400): no
    answer, no comment, no suppression, no write-back."""
    send_id = add_send(email="ana@example.test")
    token = signer.make(send_id, purpose=made)
    page = client.request(method, path.format(token=token), data=form)
    assert page.status_code == 400
    if method != "HEAD":
        assert heading(page) == "This link is not valid"
    assert (count(store, ResponseRow), count(store, WriteBack)) == (0, 0)
    assert store.is_suppressed("ana@example.test", NOW) is False


def test_the_mails_unsubscribe_link_cannot_answer(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """The issue's case: the List-Unsubscribe URL's token POSTed as a score records nothing,
    while the mail's own score link still records."""
    send_id = add_send()
    unsubscribe = unsubscribe_url("http://x", signer, send_id)
    token = unsubscribe.rsplit("/", 1)[1]
    assert client.post(f"/r/{token}/3").status_code == 400
    assert store.get_response(send_id) is None
    answer = score_url("http://x", signer.make(send_id), 3).removeprefix("http://x")
    assert client.post(answer).status_code == 303
    response = store.get_response(send_id)
    assert response is not None
    assert response.score == 3


def test_the_mails_score_link_cannot_unsubscribe(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A score link's token POSTed one-click to /u unsubscribes nobody; the mail's own
    unsubscribe link does."""
    send_id = add_send(email="ana@example.test")
    one_click = {"List-Unsubscribe": "One-Click"}
    assert client.post(f"/u/{signer.make(send_id)}", data=one_click).status_code == 400
    assert store.is_suppressed("ana@example.test", NOW) is False
    unsubscribe = unsubscribe_url("http://x", signer, send_id).removeprefix("http://x")
    assert client.post(unsubscribe, data=one_click).status_code == 200
    assert store.is_suppressed("ana@example.test", NOW) is True


def test_links_of_mails_sent_before_the_split_keep_working(
    client: httpx.Client, store: Store, add_send: AddSend
) -> None:
    """A mail sent by an earlier version has one token (LEGACY_SALT) in all its links: its
    score link still answers, its unsubscribe link still unsubscribes, even when expired."""
    answered, unsubscribed = add_send(email="a@example.test"), add_send(email="b@example.test")
    legacy = URLSafeTimedSerializer("test-secret", salt=LEGACY_SALT)
    assert client.post(f"/r/{legacy.dumps(answered)}/9").status_code == 303
    response = store.get_response(answered)
    assert response is not None
    assert response.score == 9
    expired = TokenSigner("test-secret", timedelta(days=30),
                          clock=lambda: NOW - timedelta(days=90))
    old = expired._serializer(LEGACY_SALT).dumps(unsubscribed)
    assert client.post(f"/u/{old}", data={"choice": "unsubscribe"}).status_code == 200
    assert store.is_suppressed("b@example.test", NOW) is True
