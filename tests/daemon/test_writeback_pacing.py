"""Pacing end to end: the daemon's own wiring (config -> build_adapter) against sandboxes
that enforce their limits, over real HTTP, on the real clock (the windows are shortened to
a second so the tests stay quick; the headers say so, as HubSpot's do).

Pinned: write-back at the limit gets no 429 at all (before pacing it sent until a 429, then
slept), and a 429 another integration caused is honoured for every job of the source,
counted unavoidable by the sandbox, never avoidable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.jobs.writeback import write_back
from closedloop.daemon.metrics import Metrics
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.wiring import build_adapter, load_mappings
from closedloop.integration.base import ContactUpdate
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TOKEN = "pace-token"
UPDATE = "POST /crm/v3/objects/contacts/batch/update"


def _config(source: dict[str, object]) -> object:
    return parse_config({
        "daemon": {"state_url": "sqlite://"},
        "sources": {"crm": source},
        "mail": {"host": "127.0.0.1", "port": 25, "from_address": "f@acme.example"},
        "programs": [{"name": "support-csat", "type": "csat", "source": "crm",
                      "company": "Acme"}],
    }, "test")


def _sent_to(store: Store, contacts: list[str]) -> None:
    """One survey sent to each contact: each leaves a 'sent' write-back row."""
    store.add_sends([NewSend(idem_key=f"k{c}", program="support-csat", survey_type="csat",
                             source="crm", contact_id=c, due_at=T0, created_at=T0,
                             email=f"c{c}@example.com") for c in contacts])
    for send in store.claim_due_sends(T0, len(contacts), timedelta(minutes=5)):
        assert store.begin_sending(send.id, T0)
        store.mark_sent(send.id, T0, f"<{send.id}@x>")


@pytest.fixture
def limited_hubspot() -> Iterator[tuple[HubSpotState, HubSpotSandbox]]:
    """5 requests per rolling second: a contacts write of 800 needs 8 batch updates."""
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=5, interval_ms=1000) as sb:
        yield state, sb


def test_write_back_at_the_limit_gets_no_429(
        store: Store, limited_hubspot: tuple[HubSpotState, HubSpotSandbox]) -> None:
    """800 contacts through the daemon's adapter (config seeds 190 per 10 s; the answers'
    headers correct it to 5 per second): all written, no 429. Before pacing, the sixth
    batch update was answered 429 (and the job slept the policy's 10 s)."""
    state, sandbox = limited_hubspot
    config = _config({"crm": "hubspot", "base_url": sandbox.url})
    adapter = build_adapter("crm", config, Secrets(secret_key="s" * 40,  # type: ignore[arg-type]
                                                   source_tokens={"crm": TOKEN}))
    mapping = load_mappings(config)["crm"]  # type: ignore[arg-type]
    sandbox.reset_limits()
    contacts = [state.create_contact(f"c{i}@example.com", f"C{i}", "Doe") for i in range(800)]
    adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
    _sent_to(store, contacts)
    sandbox.reset_calls()

    result = write_back(store, adapter, mapping, T0 + timedelta(minutes=1))

    assert dict(sandbox.throttled) == {}
    assert (result.contacts, result.deferred) == (800, 0)
    assert sandbox.calls[UPDATE] == 8
    # /metrics: every request of the source went through its pacer.
    registry = Metrics(store, {"crm": adapter}).registry
    assert registry.get_sample_value("closedloop_crm_pacing_requests_total",
                                     {"source": "crm"}) == adapter.call_count()
    assert sandbox.limits_snapshot()["ten_second"] == {
        "limit": 5, "remaining": sandbox.limits_snapshot()["ten_second"]["remaining"],
        "avoidable": 0, "unavoidable": 0}


def test_outside_429_is_honoured_via_retry_after_for_every_job() -> None:
    """Another integration spends the account's minute (shortened to 2 s): our write gets
    one 429, waits its Retry-After, and lands; a second job starting meanwhile waits for
    the pacer instead of sending. The sandbox counts that one 429 unavoidable, none
    avoidable."""
    state = ZendeskState()
    users = [state.create_user(f"u{i}@example.com", f"U{i}") for i in range(3)]
    with ZendeskSandbox(state, token=TOKEN, rate_limit_per_minute=10, minute=2.0,
                        incremental_per_minute=0, search_export_per_minute=0) as sb:
        config = _config({"crm": "zendesk", "subdomain": sb.subdomain, "email": sb.email,
                          "base_url": sb.url, "rate_limit": 10, "quota_share": 1.0,
                          "job_poll_interval": "50ms"})
        adapter = build_adapter("crm", config, Secrets(  # type: ignore[arg-type]
            secret_key="s" * 40, source_tokens={"crm": TOKEN}))
        pacer = adapter._session.pacer  # type: ignore[attr-defined]
        pacer.windows["account"].interval = 2.0  # the sandbox's shortened minute
        try:
            mapping = load_mappings(config)["crm"]  # type: ignore[arg-type]
            adapter.ensure_properties(mapping.group_name, mapping.group_label,
                                      mapping.specs())
            sb.reset_limits()
            sb.reset_calls()
            sb.spend_outside(10)
            first_429 = threading.Event()
            other: dict[str, object] = {}

            def second_job() -> None:
                first_429.wait(10)
                other["contacts"] = adapter.contacts([str(users[0])])

            job = threading.Thread(target=second_job)
            job.start()
            original = pacer.done

            def done(ticket: object, status: int | None, *args: object) -> None:
                original(ticket, status, *args)  # type: ignore[arg-type]
                if status == 429:
                    first_429.set()

            pacer.done = done
            field = "cl_csat_last_rating"
            written = adapter.write_contacts([ContactUpdate(contact_id=str(u), properties={
                field: "5"}) for u in users])
            job.join(20)
        finally:
            adapter.close()
        limits = sb.limits_snapshot()["account"]
    assert sorted(written.written) == sorted(str(u) for u in users)
    assert set(other["contacts"]) == {str(users[0])}  # type: ignore[arg-type]
    assert (limits["avoidable"], limits["unavoidable"]) == (0, 1)
    assert sum(sb.throttled.values()) == 1
