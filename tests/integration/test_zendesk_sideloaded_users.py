"""Requesters sideloaded with their tickets (the export page, the notified tickets' read)
are the contacts the poll and the intake ask for next: served from that response, once and
while fresh, with the values a users/show_many read gives. Over HTTP against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.integration.base import PropertySpec
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._user_memo import MAX_AGE, MAX_USERS, SideloadedUsers

T0 = datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
SPECS = [PropertySpec("region", "Region", type="text", field_type="text")]


def _solved_by(state: ZendeskState, n: int) -> tuple[list[str], list[str]]:
    """n tickets solved by n requesters with every value a Contact carries."""
    org = state.create_organization("Acme")
    users, tickets = [], []
    for i in range(n):
        uid = state.create_user(f"r{i}@example.fr", f"Rose{i} Martin", locale="fr-FR",
                                time_zone="Europe/Paris", organization_id=org,
                                created_at=T0 - timedelta(days=300 + i), phone="+33612345678")
        tid = state.create_ticket(f"t{i}", uid, created_at=T0 + timedelta(minutes=i))
        state.solve_ticket(tid, at=T0 + timedelta(minutes=i, seconds=30))
        users.append(uid)
        tickets.append(tid)
    return users, tickets


@pytest.fixture
def zd(zd_sandbox: ZendeskSandbox) -> Iterator[ZendeskAdapter]:
    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token=zd_sandbox.token, base_url=zd_sandbox.url,
                        start_at=T0 - timedelta(hours=1), contact_properties=["region"]) as a:
        a.ensure_properties("g", "G", SPECS)
        yield a


def test_export_requesters_cost_no_user_read_and_equal_a_read(
        zd: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """The export page's requesters are the contacts asked for next: no users/show_many
    (before: one per 100), and each Contact equals the one a show_many read gives."""
    users, _ = _solved_by(zd_state, 3)
    zd_state.update_user(int(users[0]), {"user_fields": {"region": "EMEA"}})
    zd_sandbox.reset_calls()

    tickets = [t for page in zd.closed_tickets(None) for t in page.tickets]
    sideloaded = zd.contacts([t.contact_ids[0] for t in tickets])
    assert zd.calls_by_endpoint().get("users_show_many", 0) == 0
    read = zd.contacts(users)  # taken once: now read from Zendesk
    assert zd.calls_by_endpoint()["users_show_many"] == 1

    assert sorted(sideloaded) == sorted(users)
    assert sideloaded == read
    assert (read[users[0]].language, read[users[0]].timezone,
            read[users[0]].properties) == ("fr", "Europe/Paris", {"region": "EMEA"})


def test_notified_requesters_cost_no_user_read(
        zd: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """The notified tickets' show_many sideloads their requesters too: the intake's contacts
    read after it costs nothing; a requester of an unsolved ticket is not kept."""
    users, tickets = _solved_by(zd_state, 2)
    other = zd_state.create_user("o@example.com", "Otto Open")
    open_ticket = zd_state.create_ticket("open", other, created_at=T0)
    zd_sandbox.reset_calls()

    found = zd.closed_tickets_by_id([*tickets, open_ticket])
    contacts = zd.contacts([*users, other])

    assert sorted(t.id for t in found) == sorted(tickets)
    assert sorted(contacts) == sorted([*users, other])
    assert zd.calls_by_endpoint() == {"user_fields": 1, "user_field_create": 1,
                                      "tickets_show_many": 1, "users_show_many": 1}
    assert zd_sandbox.calls_snapshot()["GET /api/v2/users/show_many.json"] == 1


def test_a_user_kept_longer_than_max_age_is_not_served() -> None:
    """Served at exactly MAX_AGE after it was kept, not a moment later; and once only."""
    now = [100.0]
    memo = SideloadedUsers(clock=lambda: now[0])
    memo.keep([{"id": 1, "name": "A"}, {"id": 2, "name": "B"}])
    now[0] += MAX_AGE
    assert memo.take(["1"]) == {"1": {"id": 1, "name": "A"}}
    assert memo.take(["1"]) == {}
    now[0] += 0.001
    assert memo.take(["2"]) == {}


def test_keeping_drops_expired_users_first() -> None:
    """Users past MAX_AGE leave when more are kept, so unasked ones do not pile up."""
    now = [0.0]
    memo = SideloadedUsers(clock=lambda: now[0])
    memo.keep([{"id": 1}])
    now[0] = MAX_AGE + 1
    memo.keep([{"id": 2}, {"name": "no id"}])
    assert len(memo) == 1


def test_at_most_max_users_are_kept_oldest_dropped() -> None:
    """MAX_USERS fit; one more drops the oldest, so a huge export page cannot grow it."""
    memo = SideloadedUsers(clock=lambda: 0.0)
    memo.keep({"id": i} for i in range(MAX_USERS))
    assert len(memo) == MAX_USERS
    memo.keep([{"id": MAX_USERS}])
    assert (len(memo), memo.take(["0"]), list(memo.take([str(MAX_USERS)]))) == (
        MAX_USERS, {}, [str(MAX_USERS)])
