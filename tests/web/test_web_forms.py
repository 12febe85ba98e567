"""Bytes that are not UTF-8 in a posted form or a path, over real HTTP: refused with a 4xx
page, never stored garbled, never a 500; a comment is shown back for correction."""

from __future__ import annotations

import html
import socket

import httpx
import pytest
from web_support import NOW, AddSend, heading

from closedloop.daemon.store import Store
from closedloop.daemon.web.tokens import Purpose, TokenSigner

GARBLED = "Some characters of your comment could not be read"
MULTIPART = "multipart/form-data; boundary=xYzZy"


def multipart(fields: list[tuple[bytes, bytes]]) -> bytes:
    parts = [b"--xYzZy\r\nContent-Disposition: form-data; name=\"" + name + b"\"\r\n\r\n"
             + value + b"\r\n" for name, value in fields]
    return b"".join(parts) + b"--xYzZy--\r\n"


def textarea(page: httpx.Response) -> str:
    start = page.text.index('name="comment"')
    body = page.text[page.text.index(">", start) + 1:page.text.index("</textarea>", start)]
    return html.unescape(body)


BAD_COMMENTS = [
    pytest.param("application/x-www-form-urlencoded", b"comment=caf%C3%A9+%FF+ok",
                 id="percent-encoded"),
    pytest.param("application/x-www-form-urlencoded", b"comment=caf\xc3\xa9 \xff ok",
                 id="raw-urlencoded"),
    pytest.param(MULTIPART, multipart([(b"comment", b"caf\xc3\xa9 \xff ok")]), id="multipart"),
]


@pytest.mark.parametrize(("content_type", "body"), BAD_COMMENTS)
def test_comment_with_invalid_utf8_is_refused_and_shown_back(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    content_type: str, body: bytes,
) -> None:
    """400, the comment form again with what could be read (U+FFFD where the bad byte was)
    and a message saying so; the answer stored before (score and comment) is untouched."""
    send_id = add_send()
    token = signer.make(send_id)
    client.post(f"/r/{token}/9")
    client.post(f"/c/{token}", data={"comment": "first"})
    page = client.post(f"/c/{token}", content=body, headers={"content-type": content_type})
    assert page.status_code == 400
    assert GARBLED in page.text
    assert textarea(page) == "café \ufffd ok"
    response = store.get_response(send_id)
    assert response is not None
    assert (response.score, response.comment) == (9, "first")


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/x-www-form-urlencoded", b"comment=caf%C3%A9+%E2%9C%93"),
    (MULTIPART, multipart([(b"comment", "café ✓".encode())])),
])
def test_valid_utf8_comment_is_stored_as_sent(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    content_type: str, body: bytes,
) -> None:
    """The other side: well-formed UTF-8 (percent-encoded or multipart) is stored as is."""
    send_id = add_send()
    token = signer.make(send_id)
    client.post(f"/r/{token}/9")
    page = client.post(f"/c/{token}", content=body, headers={"content-type": content_type})
    assert page.status_code == 303
    response = store.get_response(send_id)
    assert response is not None
    assert response.comment == "café ✓"


@pytest.mark.parametrize(("content_type", "body", "status", "title"), [
    ("application/x-www-form-urlencoded", b"choice=%FF", 400,
     "Stop receiving surveys from Acme?"),
    (MULTIPART, multipart([(b"choice", b"\xff")]), 400, "Stop receiving surveys from Acme?"),
    ("application/x-www-form-urlencoded", b"%FF=unsubscribe", 400, "This link is not valid"),
    (MULTIPART, multipart([(b"\xff", b"unsubscribe")]), 400, "This link is not valid"),
    ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click%FF", 400,
     "Stop receiving surveys from Acme?"),
])
def test_other_fields_with_invalid_utf8_are_a_400_page(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
    content_type: str, body: bytes, status: int, title: str,
) -> None:
    """A choice or a field name that is not UTF-8 changes nothing and gets its 4xx page."""
    token = signer.make(add_send(email="ana@example.test"), purpose=Purpose.UNSUBSCRIBE)
    page = client.post(f"/u/{token}", content=body, headers={"content-type": content_type})
    assert (status, title) == (page.status_code, heading(page))
    assert store.is_suppressed("ana@example.test", NOW) is False


@pytest.mark.parametrize("path", [
    "/r/%FF/3", "/r/{answer}/%FF", "/r/%C3/%FF", "/c/%FF", "/t/%FF", "/u/%FF",
    "/u/{unsubscribe}%FF", "/c/{answer}%80",
])
def test_path_with_invalid_utf8_is_a_400_page(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend, path: str,
) -> None:
    """Percent-encoded bytes that are not UTF-8 in a token or score: 400, nothing stored."""
    send_id = add_send()
    answer = signer.make(send_id)
    unsubscribe = signer.make(send_id, purpose=Purpose.UNSUBSCRIBE)
    url = path.format(answer=answer, unsubscribe=unsubscribe)
    for method in ("GET",) if url.startswith("/t/") else ("GET", "POST"):
        page = client.request(method, url)
        assert page.status_code == 400, (method, url)
    assert store.get_response(send_id) is None


def test_raw_invalid_bytes_in_the_path_are_a_4xx_not_a_500(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """A request line with raw 0xFF bytes (not percent-encoded) is refused with a 400."""
    token = signer.make(add_send())
    host, port = str(client.base_url.host), client.base_url.port
    assert port is not None
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(b"POST /r/" + token.encode() + b"\xff/3 HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
