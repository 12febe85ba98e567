"""The response app over real HTTP (uvicorn on 127.0.0.1) and a real Store on SQLite."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from web_support import NOW, AddSend, heading

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import Response as ResponseRow
from closedloop.daemon.web.tokens import Purpose, TokenSigner


def response_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ResponseRow)) or 0)


# -- one click, scanners, recording --------------------------------------------------------


def test_scanner_get_and_head_record_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A link scanner fetching the score link (GET, HEAD, twice) records no answer."""
    token = signer.make(add_send())
    for _ in range(2):
        assert client.get(f"/r/{token}/3").status_code == 200
        assert client.head(f"/r/{token}/3").status_code == 200
    assert response_rows(store) == 0


def test_landing_page_auto_posts_and_offers_a_confirm_button(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """The GET page holds a POST form to the same URL (a hidden `via=button`), a visible
    confirm button, and a nonce'd script that posts it with `via=script` after the delay,
    unless the browser is automated; the CSP allows exactly that nonce."""
    page = client.get(f"/r/{signer.make(add_send())}/9")
    assert '<form id="confirm" method="post" action="">' in page.text
    assert '<input type="hidden" name="via" value="button">' in page.text
    assert '<button type="submit">Confirm my score: 9</button>' in page.text
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None
    script = re.search(rf'<script nonce="{nonce.group(1)}">(.*?)</script>', page.text, re.S)
    assert script is not None
    assert "if (navigator.webdriver) return;" in script.group(1)
    assert 'form.elements.via.value = "script"; form.submit(); }, 1500);' in script.group(1)
    assert f'<style nonce="{nonce.group(1)}">' in page.text


def test_post_records_once_and_redirects_to_the_comment_page(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """POST records the score with its category, then 303s to /c/<token>."""
    send_id = add_send()
    token = signer.make(send_id)
    posted = client.post(f"/r/{token}/9")
    assert (303, f"../../c/{token}") == (posted.status_code, posted.headers["location"])
    response = store.get_response(send_id)
    assert response is not None
    assert (
        response.score, response.category, response.comment, response.answered_at
    ) == (9, "promoter", None, NOW)
    assert response_rows(store) == 1


def test_second_click_updates_the_same_response(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Same score twice: still one row; another score: the row is updated."""
    send_id = add_send()
    token = signer.make(send_id)
    client.post(f"/r/{token}/9")
    client.post(f"/r/{token}/9")
    assert response_rows(store) == 1
    client.post(f"/r/{token}/2")
    response = store.get_response(send_id)
    assert response is not None
    assert (response_rows(store), response.score, response.category) == (1, 2, "detractor")


@pytest.mark.parametrize(
    ("program", "score", "expected"),
    [
        ("csat", 4, "satisfied"),
        ("csat", 3, "unsatisfied"),
        ("ces", 7, "easy"),
        ("ces", 4, "neutral"),
        ("nps", 0, "detractor"),
        ("nps", 7, "passive"),
    ],
)
def test_category_follows_the_program(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    program: str, score: int, expected: str,
) -> None:
    """The category is computed from the send's program type and threshold."""
    send_id = add_send(program)
    client.post(f"/r/{signer.make(send_id)}/{score}")
    response = store.get_response(send_id)
    assert response is not None
    assert expected == response.category


def test_browser_flow_score_then_comment_then_thanks(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Click, land on the comment page (score shown and pressed), comment, thank-you page."""
    send_id = add_send()
    token = signer.make(send_id)
    page = client.post(f"/r/{token}/8", follow_redirects=True)
    assert f"/c/{token}" == page.url.path
    assert "Your score: 8" in page.text
    assert (
        f'formaction="../r/{token}/8" formmethod="post" aria-pressed="true">8</button>'
        in page.text
    )
    assert '<label for="comment">What is the main reason for your score?' in page.text
    done = client.post(
        f"/c/{token}", data={"comment": "  Quick and kind.\r\nThanks  "}, follow_redirects=True
    )
    assert (200, f"/t/{token}") == (done.status_code, done.url.path)
    assert "Your comment has been saved." in done.text
    response = store.get_response(send_id)
    assert response is not None
    assert (response.score, response.comment) == (8, "Quick and kind.\nThanks")


def test_empty_comment_changes_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Submitting an empty (or blank) box keeps an earlier comment."""
    send_id = add_send()
    token = signer.make(send_id)
    client.post(f"/r/{token}/6")
    client.post(f"/c/{token}", data={"comment": "first"})
    sent = client.post(f"/c/{token}", data={"comment": "   "})
    assert sent.status_code == 303
    response = store.get_response(send_id)
    assert response is not None
    assert response.comment == "first"


def test_comment_at_the_limit_is_kept_whole(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Exactly 5,000 characters (non-ASCII included) is accepted unchanged."""
    send_id = add_send()
    token = signer.make(send_id)
    client.post(f"/r/{token}/6")
    text = "é" * 5_000
    assert client.post(f"/c/{token}", data={"comment": text}).status_code == 303
    response = store.get_response(send_id)
    assert response is not None
    assert text == response.comment


def test_oversized_comment_is_422_and_the_text_is_kept(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """5,001 characters: 422 with a clear message, the text still in the box, nothing saved."""
    send_id = add_send()
    token = signer.make(send_id)
    client.post(f"/r/{token}/6")
    text = "x" * 5_001
    page = client.post(f"/c/{token}", data={"comment": text})
    assert page.status_code == 422
    assert "Your comment is 5001 characters long; the limit is 5000." in page.text
    assert f'rows="6">{text}</textarea>' in page.text
    response = store.get_response(send_id)
    assert response is not None
    assert response.comment is None


def test_huge_body_is_refused_without_reading_it(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A multi-megabyte form is 413, not a 500, and records nothing."""
    send_id = add_send()
    token = signer.make(send_id)
    client.post(f"/r/{token}/6")
    page = client.post(f"/c/{token}", data={"comment": "y" * 2_000_000})
    assert page.status_code == 413
    response = store.get_response(send_id)
    assert response is not None
    assert response.comment is None


def test_comment_before_any_score_is_refused(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Someone opening /c/ directly must choose a score first; their text stays in the box."""
    token = signer.make(add_send())
    page = client.post(f"/c/{token}", data={"comment": "hello"})
    assert page.status_code == 409
    assert "Please choose a score first." in page.text
    assert 'rows="6">hello</textarea>' in page.text
    assert response_rows(store) == 0


# -- bad input: right 4xx, localized HTML, nothing recorded ------------------------------


def _altered(token: str) -> str:
    """Change one signature character (not the last: its low bits are base64 padding)."""
    i = len(token) - 5
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("make_path", "status", "title"),
    [
        (lambda t, o: f"/r/{o}/5", 400, "This link is not valid"),
        (lambda t, o: f"/r/{_altered(t)}/5", 400, "This link is not valid"),
        (lambda t, o: "/r/not-a-token/5", 400, "This link is not valid"),
        (lambda t, o: f"/r/{t}/11", 400, "This score is not on the scale"),
        (lambda t, o: f"/r/{t}/abc", 400, "This score is not on the scale"),
        (lambda t, o: f"/r/{t}/5.0", 400, "This score is not on the scale"),
        (lambda t, o: f"/r/{t}/-1", 400, "This score is not on the scale"),
        (lambda t, o: f"/r/{t}/99999999999999999999", 400, "This score is not on the scale"),
        (lambda t, o: f"/r/{t}", 404, "Page not found"),
        (lambda t, o: f"/c/{o}", 400, "This link is not valid"),
        (lambda t, o: f"/c/{_altered(t)}", 400, "This link is not valid"),
    ],
)
def test_bad_input_gets_its_4xx_page_and_records_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    method: str, make_path: Callable[[str, str], str], status: int, title: str,
) -> None:
    """Forged, altered, garbage tokens and bad scores: the right status, an HTML page with
    a clear title, no traceback, no row."""
    send_id = add_send()
    token = signer.make(send_id)
    forged = TokenSigner("attacker-secret", timedelta(days=30)).make(send_id)
    page = client.request(method, make_path(token, forged), data={"comment": "x"})
    assert (status, title) == (page.status_code, heading(page))
    assert page.headers["content-type"].startswith("text/html")
    assert "Traceback" not in page.text
    assert response_rows(store) == 0


def test_score_range_message_names_the_programs_scale(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """CSAT is 1-5: 0 and 6 are refused with "between 1 and 5"."""
    token = signer.make(add_send("csat"))
    for score in (0, 6):
        page = client.post(f"/r/{token}/{score}")
        assert page.status_code == 400
        assert "Please choose a score between 1 and 5." in page.text


@pytest.mark.parametrize("path", ["/r/{t}/5", "/c/{t}", "/t/{t}"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_expired_link_is_410_in_the_sends_language(
    client: httpx.Client, store: Store, add_send: AddSend, path: str, method: str
) -> None:
    """A genuine token older than its lifetime: 410 "survey closed", in French for a
    French contact, and nothing recorded."""
    send_id = add_send(language="fr")
    old = TokenSigner("test-secret", timedelta(days=30), clock=lambda: NOW - timedelta(days=31))
    page = client.request(method, path.format(t=old.make(send_id)), data={"comment": "x"})
    if method == "POST" and path == "/t/{t}":
        assert page.status_code == 405
        return
    assert (page.status_code, heading(page)) == (410, "Cette enquête est close")
    assert '<html lang="fr">' in page.text
    assert response_rows(store) == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_send_is_404(
    client: httpx.Client, store: Store, signer: TokenSigner, method: str
) -> None:
    """A genuine token for a send that is not in the database: 404, nothing recorded."""
    page = client.request(method, f"/r/{signer.make(999)}/5")
    assert (page.status_code, heading(page)) == (404, "Page not found")
    assert response_rows(store) == 0


def test_send_of_a_removed_program_is_closed(
    client: httpx.Client, store: Store, signer: TokenSigner
) -> None:
    """A program taken out of the config: its links answer 410 and record nothing."""
    store.add_sends([NewSend(
        idem_key="gone-1", program="gone", survey_type="nps", source="hubspot",
        contact_id="c1", due_at=NOW, created_at=NOW, email="ana@example.test",
    )])
    page = client.post(f"/r/{signer.make(1)}/5")
    assert page.status_code == 410
    assert response_rows(store) == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_get_a_405_page(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend, method: str
) -> None:
    """Methods the app does not serve: a 405 HTML page, nothing recorded."""
    page = client.request(method, f"/r/{signer.make(add_send())}/5")
    assert (page.status_code, heading(page)) == (405, "This action is not allowed")
    assert response_rows(store) == 0


def test_error_page_language_follows_accept_language_when_the_send_is_unknown(
    client: httpx.Client,
) -> None:
    """No send to take a language from: the browser's Accept-Language decides."""
    page = client.get("/r/garbage/5", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert (page.status_code, heading(page)) == (400, "Ce lien n\u2019est pas valide")
    assert '<html lang="fr">' in page.text


def test_unknown_route_is_an_html_404(client: httpx.Client) -> None:
    """Even a path the app does not know answers with the small HTML page."""
    page = client.get("/wp-login.php")
    assert (page.status_code, heading(page)) == (404, "Page not found")


# -- pages: language, size, headers, accessibility -----------------------------------------


def test_french_contact_gets_french_pages(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """The send's language (fr-CA) picks the French catalog for every page."""
    token = signer.make(add_send(language="fr-CA"))
    landing = client.get(f"/r/{token}/9")
    assert "Confirmer ma note\u00a0: 9" in landing.text
    comment = client.post(f"/r/{token}/9", follow_redirects=True)
    assert '<html lang="fr">' in comment.text
    assert "Quelle est la probabilité que vous recommandiez Acme" in comment.text
    assert "Quelle est la raison principale de votre note\u00a0?" in comment.text
    thanks = client.post(f"/c/{token}", data={"comment": "Très bien"}, follow_redirects=True)
    assert heading(thanks) == "Merci\u00a0!"


def test_pages_carry_the_security_headers(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """CSP allows only this response's nonce; no sniffing, no referrer, no framing, no cache."""
    token = signer.make(add_send())
    for page in (client.get(f"/r/{token}/5"), client.get(f"/c/{token}"),
                 client.get("/r/bad/5"), client.get("/healthz")):
        headers = page.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]


def test_nonce_changes_per_response(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """A fresh nonce on every response, so a leaked one is useless."""
    token = signer.make(add_send())
    first = client.get(f"/r/{token}/5").headers["content-security-policy"]
    second = client.get(f"/r/{token}/5").headers["content-security-policy"]
    assert first != second


def test_pages_are_small_self_contained_and_accessible(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """Under 10 KB, no external asset, viewport meta, lang, fieldset/legend, labelled box."""
    token = signer.make(add_send())
    client.post(f"/r/{token}/5")
    page = client.get(f"/c/{token}")
    assert len(page.content) < 10_000
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    assert re.search(r"<(link|img|iframe)\b|src=|https?://", page.text) is None
    assert '<html lang="en">' in page.text
    assert "<fieldset>\n<legend>How likely are you to recommend Acme" in page.text
    assert '<textarea id="comment" name="comment" maxlength="5000"' in page.text
    assert page.text.count("<button") == 12  # 11 scores + send


# -- unsubscribe ------------------------------------------------------------------------


def test_unsubscribe_get_asks_and_post_suppresses(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """GET (a scanner, a preview) only asks; POST suppresses the address."""
    token = signer.make(add_send(email="Ana@Example.test"), purpose=Purpose.UNSUBSCRIBE)
    client.get(f"/u/{token}")
    assert store.is_suppressed("ana@example.test", NOW) is False
    page = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert (page.status_code, heading(page)) == (200, "You are unsubscribed")
    assert store.is_suppressed("ana@example.test", NOW) is True


def test_unsubscribe_works_with_an_expired_link(
    client: httpx.Client, store: Store, add_send: AddSend
) -> None:
    """An old mail's unsubscribe link still works: its signature is genuine."""
    send_id = add_send(email="old@example.test")
    old = TokenSigner("test-secret", timedelta(days=30), clock=lambda: NOW - timedelta(days=90))
    token = old.make(send_id, purpose=Purpose.UNSUBSCRIBE)
    assert client.post(f"/u/{token}", data={"choice": "unsubscribe"}).status_code == 200
    assert store.is_suppressed("old@example.test", NOW) is True


def test_forged_unsubscribe_is_refused(
    client: httpx.Client, store: Store, add_send: AddSend
) -> None:
    """A forged token cannot unsubscribe anyone."""
    send_id = add_send(email="ana@example.test")
    forged = TokenSigner("attacker", timedelta(days=30)).make(send_id, purpose=Purpose.UNSUBSCRIBE)
    assert client.post(f"/u/{forged}").status_code == 400
    assert store.is_suppressed("ana@example.test", NOW) is False


# -- health -------------------------------------------------------------------------------


def test_healthz_ok(client: httpx.Client) -> None:
    """With the database answering: 200 {"status": "ok"}."""
    page = client.get("/healthz")
    assert (page.status_code, page.json()) == (200, {"status": "ok"})


def test_database_down_is_503_not_a_traceback(
    tmp_path: Path, signer: TokenSigner,
    serve: Callable[[Store, TokenSigner], AbstractContextManager[httpx.Client]],
) -> None:
    """An unreachable database: /readyz says 503 (/healthz: the process is alive), a click
    gets the "try again" page."""
    folder = tmp_path / "state"
    folder.mkdir()
    broken = Store(f"sqlite:///{folder / 'state.db'}")
    broken.migrate()
    broken.dispose()
    shutil.rmtree(folder)  # SQLite cannot open a file in a folder that is gone
    with serve(broken, signer) as client:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()["status"], ready.json()["store"]) == (
            503, "unavailable", "down")
        assert client.get("/healthz").status_code == 200
        page = client.post(f"/r/{signer.make(1)}/5")
        assert (
            page.status_code, heading(page)
        ) == (503, "We could not save your answer right now")
