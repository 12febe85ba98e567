"""The score pages' short way past FastAPI's stack (web/score_paths.py): it serves exactly
the paths and methods the `/r/{token}/{score}` routes did, with the same pages and headers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from uvicorn_support import served_client
from web_support import NOW, AddSend, heading

from closedloop.daemon.store import Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.tokens import TokenSigner

PROGRAMS = {"nps": Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme")}


def _under_prefix(app: Any, prefix: str) -> Any:
    """The app behind a proxy that mounts it at `prefix` (ASGI root_path)."""

    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        await app(scope, receive, send)

    return mounted


def test_score_page_under_a_path_prefix_is_served_and_records(
    store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Behind a prefix (root_path) the score page and its POST work as at the root."""
    app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=lambda: NOW)
    send_id = add_send()
    token = signer.make(send_id)
    with served_client(_under_prefix(app, "/survey")) as http:
        page = http.get(f"/r/{token}/9")
        posted = http.post(f"/r/{token}/9", data={"via": "button"})
    assert (page.status_code, posted.status_code) == (200, 303)
    assert posted.headers["location"] == f"../../c/{token}"
    response = store.get_response(send_id)
    assert response is not None
    assert response.score == 9


def test_paths_the_routes_never_matched_still_go_to_the_app(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """A segment more or less, or an empty one, is the app's 404 page (`/rr/...` too); a
    trailing slash is the router's redirect to the path without it, as before."""
    token = signer.make(add_send())
    for path in (f"/r/{token}/9/x", f"/r/{token}", f"/r/{token}/", "/r//9", f"/rr/{token}/9"):
        page = client.get(path)
        assert (path, page.status_code, heading(page)) == (path, 404, "Page not found")
    slash = client.get(f"/r/{token}/9/", follow_redirects=False)
    assert (slash.status_code, slash.headers["location"]) == (
        307, str(client.base_url.join(f"/r/{token}/9")))


def test_head_is_answered_like_get_without_a_body(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend
) -> None:
    """HEAD of a score link (scanners send it) gets GET's status and headers, no body."""
    path = f"/r/{signer.make(add_send())}/9"
    get, head = client.get(path), client.head(path)
    assert (head.status_code, head.content) == (get.status_code, b"")
    assert head.headers["x-frame-options"] == get.headers["x-frame-options"] == "DENY"
    assert head.headers["content-length"] == get.headers["content-length"]


def test_errors_of_the_score_pages_are_the_apps_pages_with_its_headers(
    client: httpx.Client,
) -> None:
    """A bad token on the short way: the 400 page, with the security headers."""
    page = client.post("/r/forged.token.here/5")
    assert (page.status_code, heading(page)) == (400, "This link is not valid")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_an_unexpected_error_on_the_short_way_is_the_apps_500_page_with_its_headers(
    store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A failure no error page names (here the clock breaks while the POST records) is the
    app's "Something went wrong" page with the security headers, and nothing is stored."""

    def broken_clock() -> Any:
        raise RuntimeError("clock broken")

    app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=broken_clock)
    send_id = add_send()
    with served_client(app) as http:
        page = http.post(f"/r/{signer.make(send_id)}/9", data={"via": "button"})
    assert (page.status_code, heading(page)) == (500, "Something went wrong")
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert store.get_response(send_id) is None


def test_an_unexpected_error_on_the_apps_own_way_has_the_security_headers_too(
    store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """The comment POST goes through FastAPI; a failure no error page names (the clock
    breaks while it records) is its 500 page, which FastAPI answers outside the security
    headers middleware: the page now carries every header itself."""

    def broken_clock() -> Any:
        raise RuntimeError("clock broken")

    app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=broken_clock)
    send_id = add_send()
    store.record_response(send_id, 9, "promoter", NOW)
    with served_client(app) as http:
        page = http.post(f"/c/{signer.make(send_id)}", data={"comment": "Fast and kind"})
    assert (page.status_code, heading(page)) == (500, "Something went wrong")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
