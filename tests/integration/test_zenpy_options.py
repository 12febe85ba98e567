"""The zenpy client options ZendeskAdapter sets on purpose (issue 3: "zenpy's own rate-limit
options are set deliberately, not left to chance"), pinned on the constructed Zenpy object and
by what they do over HTTP:

- our own CountingSession, with no urllib3 retries on http or https (the one retry policy
  sees every failure);
- `ratelimit_budget=1`, no proactive rate limit: zenpy never sleeps on a 429, not even if
  one slipped past the session;
- `disable_cache=True`: a second read of a user goes to the server (zenpy's LRU would keep
  users, and their e-mail and locale, for the life of the daemon);
- a timeout on every request.

The sandbox tests run real zenpy over HTTP; the https ones use `responses` (strict), which
honours an adapter's urllib3 `max_retries` just as a real connection pool would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter
from zenpy.lib.exception import RatelimitBudgetExceeded

from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._transport import NETLOC_ENV, SCHEME_ENV, CountingSession

API = "https://acme.zendesk.com/api/v2"


@pytest.fixture
def zenpy_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep zenpy's own 429 / proactive rate-limit loops would take."""
    slept: list[float] = []
    monkeypatch.setattr("zenpy.lib.api.sleep", slept.append)
    return slept


def test_the_zenpy_object_carries_the_chosen_options(zd_adapter: ZendeskAdapter) -> None:
    """Every zenpy endpoint API shares our session, timeout, budget 1 and the disabled cache."""
    zd = zd_adapter._zd
    session = zd_adapter._session
    assert isinstance(session, CountingSession)
    apis = [zd.users, zd.tickets, zd.user_fields, zd.job_status, zd.search, zd.search_export]
    for api in apis:
        assert api.session is session
        assert api.timeout == (2, 5)  # the conftest adapter's timeout=(2, 5)
        assert api.ratelimit_budget == 1
        assert api.ratelimit is None  # no proactive limiter: it sleeps 10 s in 1 s steps
        assert api.cache is zd.cache
    assert zd.cache.disabled is True
    for scheme in ("https://", "http://"):
        mounted = session.get_adapter(f"{scheme}acme.zendesk.com")
        assert isinstance(mounted, HTTPAdapter)
        retries = mounted.max_retries
        assert retries.total == 0
        assert not retries.status_forcelist


def test_default_timeout_bounds_connect_and_read(zd_sandbox: ZendeskSandbox) -> None:
    """Without a timeout argument the adapter still sets one (zenpy's default is 60 s flat)."""
    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token=zd_sandbox.token, base_url=zd_sandbox.url) as adapter:
        assert adapter._zd.users.timeout == (5.0, 60.0)


def test_a_429_with_retry_after_30_is_waited_by_our_policy_not_by_zenpy(
        zd_state: ZendeskState, zd_sandbox: ZendeskSandbox, zd_adapter: ZendeskAdapter,
        sleeps: list[float], zenpy_sleeps: list[float]) -> None:
    """Over HTTP: the session raises RateLimited(30) before zenpy sees the 429; the retry
    policy waits the 30 s once and the second call reads the user."""
    uid = zd_state.create_user("ada@example.com")
    zd_sandbox.fail_next(1, 429, path_prefix="/api/v2/users/show_many", retry_after=30)
    found = zd_adapter.contacts([uid])
    assert found[uid].email == "ada@example.com"
    assert zenpy_sleeps == []
    assert sleeps == [30.0]
    assert zd_adapter.calls_by_endpoint() == {"users_show_many": 2}


def test_a_429_reaching_zenpy_raises_at_once_instead_of_sleeping(
        zd_adapter: ZendeskAdapter, zenpy_sleeps: list[float]) -> None:
    """The budget is the second line: were a 429 to reach zenpy's own loop (a session that
    does not raise), budget 1 refuses before its first 1-second sleep."""
    refused = requests.Response()
    refused.status_code = 429
    refused.headers["Retry-After"] = "30"
    asked: list[str] = []

    def http_method(url: str, **kwargs: object) -> requests.Response:
        if asked:
            raise AssertionError("zenpy waited and asked again")
        asked.append(url)
        return refused

    with pytest.raises(RatelimitBudgetExceeded):
        zd_adapter._zd.users._call_api(http_method, f"{API}/users/show_many.json")
    assert zenpy_sleeps == []
    assert asked == [f"{API}/users/show_many.json"]  # not asked again after a wait


def test_a_second_users_read_goes_to_the_server(zd_state: ZendeskState,
                                                zd_adapter: ZendeskAdapter) -> None:
    """No object cache: every read of a user costs a call and sees what changed in between.
    zenpy's cache is keyed by integer id: the adapter's show_many (string ids) would miss it
    anyway, but a read by integer id, as zenpy's own callers do, would be answered from memory
    with the old name and locale for the life of the daemon."""
    uid = zd_state.create_user("ada@example.com", "Ada Doe", locale="en-US")
    first = zd_adapter.contacts([uid])[uid]
    zd_state.update_user(int(uid), {"locale": "fr", "name": "Grace Doe"})
    second = zd_adapter.contacts([uid])[uid]
    assert (first.first_name, first.language) == ("Ada", "en")
    assert (second.first_name, second.language) == ("Grace", "fr")
    assert zd_adapter.calls_by_endpoint() == {"users_show_many": 2}
    zd_state.update_user(int(uid), {"name": "Hedy Doe"})
    [by_number] = list(zd_adapter._zd.users(ids=[int(uid)]))
    assert by_number.name == "Hedy Doe"
    assert zd_adapter.calls_by_endpoint() == {"users_show_many": 3}


@pytest.fixture
def https_adapter(monkeypatch: pytest.MonkeyPatch, policy: RetryPolicy,
                  sleeps: list[float]) -> Iterator[ZendeskAdapter]:
    """At the real https URL (no ZENPY_FORCE_* override), for canned answers."""
    monkeypatch.delenv(NETLOC_ENV, raising=False)
    monkeypatch.delenv(SCHEME_ENV, raising=False)
    with ZendeskAdapter("zendesk", subdomain="acme", email="admin@acme.example",
                        token="zd-token", retry=policy, sleep=sleeps.append,
                        timeout=(3.0, 7.0)) as adapter:
        yield adapter


def test_a_503_on_https_reaches_our_policy_not_urllib3(https_adapter: ZendeskAdapter,
                                                       sleeps: list[float]) -> None:
    """zenpy's own https adapter would retry a 503 three times inside urllib3, unseen and
    unpaced; ours hands it to the retry policy (one backoff), each attempt counted, and
    every request carries the timeout."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(f"{API}/users/show_many.json", status=503, json={"error": "Unavailable"})
        mock.get(f"{API}/users/show_many.json", json={"users": [
            {"id": 5, "email": "a@b.example", "name": "Ada Doe"}]})
        assert list(https_adapter.contacts(["5"])) == ["5"]
        timeouts = [call.request.req_kwargs["timeout"]  # type: ignore[attr-defined]
                    for call in mock.calls]
    assert len(sleeps) == 1
    assert https_adapter.calls_by_endpoint() == {"users_show_many": 2}
    assert timeouts == [(3.0, 7.0), (3.0, 7.0)]
