"""Reading zenpy's result generators one HTTP page at a time.

zenpy hides paging inside `next()`: the request for page N+1 happens in the middle of
iterating, outside any retry wrapper, and the attributes a checkpoint needs
(`after_cursor`, the sideloads) are overwritten before page N+1's first item is handed out.
So the adapter never iterates a generator: it reads the current page, then asks for the
next one explicitly through `handle_pagination()` inside the retry policy. A failed fetch
leaves the generator unchanged, so retrying it is safe.

Relies on zenpy 2.0.57's generator attributes (`values`, `process_page()`,
`handle_pagination()` and the page JSON in `_response_json`); the contract tests pin them.

The hot reads by id (show_many) skip zenpy's objects altogether (`raw_pages`): zenpy turned
every ticket, user and metric set of a page into objects, which the adapter turned back into
dicts, a quarter of the Zendesk jobs' CPU at 1,000 tickets a day. They make the request
zenpy's own call makes (its URL builder, our session, its status checks in `_call_api`,
which raise the exceptions the adapter translates) and keep the page's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from closedloop.integration.errors import TransientError

CallFn = Callable[[str, Callable[[], Any]], Any]  # ZendeskAdapter._call(endpoint, fn)
MAX_PAGES = 100_000  # a stream this long is a server bug, not data


def page_items(gen: Any) -> list[Any]:
    """The zenpy objects of the generator's current page (parsed once)."""
    if gen.values is None:
        gen.values = gen.process_page()
    return list(gen.values or [])


def page_json(gen: Any) -> dict[str, Any]:
    """The raw JSON of the current page (for sideloads and paging tokens)."""
    data = getattr(gen, "_response_json", None)
    return data if isinstance(data, dict) else {}


def page_token(gen: Any) -> str | None:
    """What identifies the next page: a cursor or a next-page URL; None at the end."""
    data = page_json(gen)
    links = data.get("links") if isinstance(data.get("links"), dict) else {}
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    for value in (data.get("after_cursor"), (meta or {}).get("after_cursor"),
                  (links or {}).get("next"), data.get("next_page")):
        if value:
            return str(value)
    return None


def next_page(call: CallFn, endpoint: str, gen: Any) -> bool:
    """Fetch the next page into `gen` (retried); False when there is none."""

    def fetch() -> bool:
        try:
            gen.handle_pagination()
        except StopIteration:
            return False
        return True

    more: bool = call(endpoint, fetch)
    return more


def pages(call: CallFn, endpoint: str, first: Callable[[], Any]) -> Iterator[list[Any]]:
    """Every page of a paged zenpy listing, one list of zenpy objects per HTTP page.

    A page token seen twice is an error, not a loop.
    """
    gen = call(endpoint, first)
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        yield page_items(gen)
        token = page_token(gen)
        if token is not None:
            if token in seen:
                raise TransientError(f"Zendesk {endpoint} repeated the page token {token[:40]!r}")
            seen.add(token)
        if not next_page(call, endpoint, gen):
            return
    raise TransientError(f"Zendesk {endpoint} returned more than {MAX_PAGES} pages")


def raw_pages(call: CallFn, endpoint: str, api: Any, **params: Any) -> Iterator[dict[str, Any]]:
    """The JSON of each page of `api(**params)` (a zenpy API, e.g. `tickets(ids=...)`),
    without zenpy's objects (see the module doc); next pages by `next_page`, as zenpy's
    generator follows them. A page URL seen twice is an error, not a loop."""
    url: str | None = api._build_url(endpoint=api.endpoint(**params))
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        assert url is not None
        data: dict[str, Any] = call(endpoint, partial(get_json, api, url))
        yield data
        following = data.get("next_page")
        if not isinstance(following, str) or not following:
            return
        if following in seen:
            raise TransientError(f"Zendesk {endpoint} repeated the page {following[:60]!r}")
        seen.add(following)
        url = following
    raise TransientError(f"Zendesk {endpoint} returned more than {MAX_PAGES} pages")


def get_json(api: Any, url: str) -> dict[str, Any]:
    """GET `url` through zenpy's own call (our session, its status checks): the page's JSON."""
    data = api._get(url, raw_response=True).json()
    return data if isinstance(data, dict) else {}
