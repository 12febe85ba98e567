"""Fixtures of the trigger tests: both sandbox CRMs on 127.0.0.1 and real adapters on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from trigger_support import NOW, TOKEN

from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter


def _policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=2, max_delay=1.0, base=0.01, cap=0.05,
                       sleep=lambda seconds: None)


@pytest.fixture
def hs_state() -> HubSpotState:
    return HubSpotState()


@pytest.fixture
def hs_sandbox(hs_state: HubSpotState) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(hs_state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000, port=0) as server:
        yield server


@pytest.fixture
def hubspot(hs_sandbox: HubSpotSandbox) -> HubSpotAdapter:
    return HubSpotAdapter("hubspot", TOKEN, hs_sandbox.url, start_at=NOW - timedelta(days=30),
                          retry=_policy(), timeout=(2, 5))


@pytest.fixture
def zd_state() -> ZendeskState:
    return ZendeskState()


@pytest.fixture
def zd_sandbox(zd_state: ZendeskState) -> Iterator[ZendeskSandbox]:
    with ZendeskSandbox(zd_state, rate_limit_per_minute=1_000_000,
                        incremental_per_minute=1_000_000,
                        search_export_per_minute=1_000_000, port=0) as server:
        yield server


@pytest.fixture
def zendesk(zd_sandbox: ZendeskSandbox) -> Iterator[ZendeskAdapter]:
    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token=zd_sandbox.token, base_url=zd_sandbox.url,
                        start_at=NOW - timedelta(days=30), retry=_policy(),
                        sleep=lambda seconds: None, timeout=(2, 5)) as adapter:
        yield adapter
