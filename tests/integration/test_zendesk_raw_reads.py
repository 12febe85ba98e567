"""The hot Zendesk reads as plain JSON give the records zenpy's objects gave.

Tickets and users show_many, the notified tickets, the export's pages and the job statuses
skip zenpy's object building (integration/zendesk/_raw.py). Each test reads the same sandbox
records both ways, through zenpy's own API objects turned into dicts as the adapter did
before, and through the adapter, and pins that the records are equal, edge values included:
custom fields (set and null), non-ASCII text, a ticket without a requester, solved and
closed, open and unknown ids. Failures keep their mapping (a body that is not JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import responses

from closedloop.integration.base import Ticket
from closedloop.integration.errors import TransientError
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._tickets import SIDELOADS, solved_times, to_ticket
from closedloop.integration.zendesk._users import to_contact

T0 = datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
FIELD = 360001


@pytest.fixture
def zd(zd_sandbox: ZendeskSandbox) -> Iterator[ZendeskAdapter]:
    with ZendeskAdapter("zendesk", subdomain=zd_sandbox.subdomain, email=zd_sandbox.email,
                        token=zd_sandbox.token, base_url=zd_sandbox.url,
                        start_at=T0 - timedelta(hours=1), page_size=2,
                        ticket_properties=[str(FIELD), "priority"]) as adapter:
        yield adapter


def _records(state: ZendeskState) -> tuple[list[str], list[str]]:
    """Users and tickets with the values that could come out differently."""
    state.create_ticket_field(FIELD, "Store", options=[("paris", "Paris"), ("oslo", "Oslo")])
    org = state.create_organization("Ærø AS")
    users = [state.create_user("ann@example.fr", "Ann « spéciale » Lee", locale="fr-FR",
                               time_zone="Europe/Paris", organization_id=org,
                               phone="+33612345678", created_at=T0 - timedelta(days=300)),
             state.create_user("bo@example.com", "Bø Ørjan", locale="nb"),
             state.create_user(None, "No Address")]
    tickets = [state.create_ticket("Café — ünïcode", users[0], created_at=T0,
                                   custom_fields={FIELD: "paris"}),
               state.create_ticket("no field", users[1], created_at=T0),
               state.create_ticket("", None, created_at=T0),  # no requester
               state.create_ticket("still open", users[2], created_at=T0)]
    state.solve_ticket(tickets[0], at=T0 + timedelta(minutes=5))
    state.close_ticket(tickets[1], at=T0 + timedelta(minutes=6))
    state.solve_ticket(tickets[2], at=T0 + timedelta(minutes=7))
    return users, tickets


def _zenpy_tickets(zd: ZendeskAdapter, ids: list[str]) -> list[Ticket]:
    """The notified read as it was: zenpy's show_many objects, to_dict, to_ticket."""
    gen = zd._zd.tickets(ids=ids, include=SIDELOADS)
    solved_at = solved_times(gen._response_json)
    built = (to_ticket(item.to_dict(), solved_at, zd._ticket_extra) for item in gen)
    return [t for t in built if t is not None]


def test_notified_tickets_and_users_equal_what_zenpys_objects_gave(
        zd: ZendeskAdapter, zd_state: ZendeskState) -> None:
    users, tickets = _records(zd_state)
    asked = [*tickets, "999999"]  # an unknown id is left out, as before

    found = zd.closed_tickets_by_id(asked)
    assert found == _zenpy_tickets(zd, asked)
    assert [(t.id, t.properties.get(str(FIELD))) for t in found] == [
        (tickets[0], "paris"), (tickets[1], None), (tickets[2], None)]

    zenpy_users = {u.id: to_contact(u.to_dict(), ()) for u in zd._zd.users(ids=users)}
    contacts = zd.contacts(users)
    assert contacts == {str(k): v for k, v in zenpy_users.items()}
    assert (contacts[users[0]].language, contacts[users[2]].email) == ("fr", None)


def test_export_pages_equal_what_zenpys_objects_gave(
        zd: ZendeskAdapter, zd_state: ZendeskState) -> None:
    """Two tickets a page (page_size 2): the same closed tickets, each page with its own
    cursor, resumable from any of them."""
    _, tickets = _records(zd_state)
    pages = list(zd.closed_tickets(None))
    found = [t for p in pages for t in p.tickets]
    assert len(pages) >= 2
    assert sorted(t.id for t in found) == sorted(tickets[:3])
    assert found == sorted(_zenpy_tickets(zd, [t.id for t in found]),
                           key=lambda t: [x.id for x in found].index(t.id))
    resumed = [t for p in zd.closed_tickets(pages[0].cursor) for t in p.tickets]
    assert resumed == [t for p in pages[1:] for t in p.tickets]


def test_reopen_check_and_attribution_read_plain_json(
        zd: ZendeskAdapter, zd_state: ZendeskState) -> None:
    """reopened(): the open and the unknown ticket; attribution from the same JSON."""
    _, tickets = _records(zd_state)
    assert zd.reopened([*tickets, "999999"]) == {tickets[3], "999999"}
    gone, who = zd.reopened_with_attribution(tickets[:2], tickets[:3])
    assert (gone, sorted(who), who[tickets[1]].closed) == (set(), sorted(tickets[:3]), True)


def test_a_show_many_body_that_is_not_json_is_transient(policy: RetryPolicy) -> None:
    """A proxy's HTML page with 200: TransientError (retried, then raised), never a crash."""
    with responses.RequestsMock() as mock, \
            ZendeskAdapter("zendesk", subdomain="acme", email="a@acme.example", token="t",
                           retry=policy) as adapter:
        mock.get("https://acme.zendesk.com/api/v2/tickets/show_many.json",
                 body="<html>maintenance</html>", status=200)
        with pytest.raises(TransientError, match="not JSON"):
            adapter.reopened(["1"])
