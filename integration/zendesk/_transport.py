"""The HTTP session zenpy runs on, and the process-wide switch that points zenpy elsewhere.

The session counts every request per endpoint (zenpy's own paging included) and answers
429 itself by raising `RateLimited` with the server's `Retry-After`: zenpy's own 429 loop
sleeps in 1-second steps on the calling thread, and its `ratelimit_budget` is a per-client
counter that only ever decreases (it never refills), so after the first few waits in a
long-running daemon it would refuse at once anyway. Waiting is the retry policy's job.
No urllib3 retries are mounted (zenpy's default adapter retries 413/503 on https only),
so the one policy in integration.retry sees every failure.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from closedloop.integration.errors import ConfigError
from closedloop.integration.pacing import Pacer
from closedloop.integration.zendesk._errors import http_error
from closedloop.integration.zendesk.endpoints import endpoint_of

SCHEME_ENV = "ZENPY_FORCE_SCHEME"
NETLOC_ENV = "ZENPY_FORCE_NETLOC"


class CountingSession(requests.Session):
    """A requests session that counts calls per endpoint and turns 429 into RateLimited."""

    def __init__(self, pacer: Pacer | None = None) -> None:
        """`pacer`: the source's rate windows (_pacing.zendesk_pacer), asked before every
        request; None sends at once."""
        super().__init__()
        self.pacer = pacer
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.limited: Counter[str] = Counter()  # answers 429, per endpoint
        plain = HTTPAdapter(max_retries=0)
        self.mount("https://", plain)
        self.mount("http://", plain)

    def request(self, method: str, url: str,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        endpoint = endpoint_of(method, urlsplit(url).path)
        ticket = self.pacer.acquire(endpoint) if self.pacer is not None else None
        with self._lock:
            self.calls[endpoint] += 1
        response: requests.Response | None = None
        try:
            response = super().request(method, url, *args, **kwargs)
        finally:
            if self.pacer is not None and ticket is not None:
                self.pacer.done(ticket, None if response is None else response.status_code,
                                None if response is None else response.headers)
        if response.status_code == 429:
            with self._lock:
                self.limited[endpoint] += 1
            raise http_error(response, endpoint=endpoint)  # RateLimited(Retry-After)
        return response

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def rate_limited(self) -> dict[str, int]:
        with self._lock:
            return dict(self.limited)


class _Override:
    """Reference-counted ownership of ZENPY_FORCE_SCHEME / ZENPY_FORCE_NETLOC.

    zenpy reads the two variables on every request, for every client in the process, so
    two adapters pointing at different servers cannot coexist: the second one is refused
    (ConfigError). Variables set outside ClosedLoop are honoured but never removed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owned: tuple[str, str] | None = None
        self._users = 0

    def acquire(self, base_url: str | None, default_netloc: str, *, source: str) -> None:
        wanted = _split(base_url, default_netloc)
        forced = wanted != ("https", default_netloc)
        with self._lock:
            netloc = os.environ.get(NETLOC_ENV)
            current = (os.environ.get(SCHEME_ENV, "https"), netloc or "")
            if netloc is None:
                if forced:
                    os.environ[SCHEME_ENV], os.environ[NETLOC_ENV] = wanted
                    self._owned, self._users = wanted, 1
                return
            if not forced or current != wanted:
                raise ConfigError([
                    f"{source}: zenpy is already pointed at {current[0]}://{current[1]} in this "
                    f"process ({NETLOC_ENV} is process-wide), so a Zendesk source at "
                    f"{wanted[0]}://{wanted[1]} cannot run beside it; run one daemon per "
                    "Zendesk server"])
            if self._owned == wanted:
                self._users += 1

    def release(self, base_url: str | None, default_netloc: str) -> None:
        wanted = _split(base_url, default_netloc)
        with self._lock:
            if self._owned != wanted:
                return
            self._users -= 1
            if self._users <= 0:
                os.environ.pop(NETLOC_ENV, None)
                os.environ.pop(SCHEME_ENV, None)
                self._owned, self._users = None, 0


def _split(base_url: str | None, default_netloc: str) -> tuple[str, str]:
    if not base_url:
        return "https", default_netloc
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError([f"Zendesk base_url {base_url!r} is not an http(s) URL"])
    if parts.path.strip("/"):
        raise ConfigError([f"Zendesk base_url {base_url!r} must not have a path "
                           "(zenpy always adds /api/v2)"])
    return parts.scheme, parts.netloc


OVERRIDE = _Override()
