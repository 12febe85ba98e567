"""Fixtures for the HubSpot adapter tests: a sandbox on 127.0.0.1 and adapters pointed at it.

The sandbox limits are raised out of the way unless a test is about them, and retry waits
are recorded instead of slept, so the suite stays fast while the retry decisions are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.mappings.loader import load_mapping

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TOKEN = "sandbox-token"


class Sleeps(list[float]):
    """Records the waits the retry policy asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, max_delay=60.0, base=0.01, cap=0.05, sleep=sleeps)


@pytest.fixture
def state() -> HubSpotState:
    return HubSpotState()


@pytest.fixture
def sandbox(state: HubSpotState) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000, port=0) as server:
        yield server


@pytest.fixture
def adapter(sandbox: HubSpotSandbox, policy: RetryPolicy) -> HubSpotAdapter:
    return HubSpotAdapter("hubspot", TOKEN, sandbox.url, start_at=NOW - timedelta(days=1),
                          page_size=10, retry=policy, timeout=(2, 5))


@pytest.fixture
def with_properties(adapter: HubSpotAdapter) -> HubSpotAdapter:
    """The adapter after `setup` created the bundled mapping's properties."""
    mapping = load_mapping("hubspot")
    adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
    return adapter


# -- Zendesk: a sandbox on 127.0.0.1 and a ZendeskAdapter (real zenpy) pointed at it ----------


@pytest.fixture
def zd_state() -> ZendeskState:
    return ZendeskState()


@pytest.fixture
def zd_sandbox(zd_state: ZendeskState) -> Iterator[ZendeskSandbox]:
    """Limits out of the way unless a test is about them; jobs report "working" once."""
    with ZendeskSandbox(zd_state, rate_limit_per_minute=1_000_000,
                        incremental_per_minute=1_000_000,
                        search_export_per_minute=1_000_000, port=0) as server:
        yield server


@pytest.fixture
def zd_adapter(zd_sandbox: ZendeskSandbox, policy: RetryPolicy,
               sleeps: Sleeps) -> Iterator[ZendeskAdapter]:
    """The adapter over HTTP; it sets (and on close removes) ZENPY_FORCE_SCHEME/NETLOC."""
    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token=zd_sandbox.token, base_url=zd_sandbox.url,
                        start_at=NOW - timedelta(days=1), page_size=10, retry=policy,
                        sleep=sleeps, timeout=(2, 5), job_poll_interval=0.5,
                        job_timeout=5.0) as adapter:
        yield adapter
