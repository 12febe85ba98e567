"""write_follow_ups over HTTP with the real clients (hubspot-api-client, zenpy) against the
sandboxes: batching, owners, links, refusals, and the look-up that stops a second create."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from closedloop.integration.base import FollowUp
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DUE = NOW + timedelta(hours=4)
OWNERS = ("71000001", "71000002", "71000003")


def _item(key: str, contact: str, ticket: str | None, **kw: object) -> FollowUp:
    fields: dict[str, object] = {"subject": f"Follow up {key}",
                                 "body": "CSAT 1 <b>bad</b>\nComment: slow", "due_at": DUE,
                                 **kw}
    return FollowUp(key=key, contact_id=contact, ticket_id=ticket, **fields)  # type: ignore[arg-type]


def test_hubspot_150_tasks_take_two_creates_and_owners_fall_back(
        adapter: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """150 follow-ups: 2 task creates (100 + 50), 2 tickets reads (100 + 50) and 1 contacts
    read for the 50 tickets without an owner. The ticket's owner first, else the contact's,
    else the configured one; the body is escaped HTML; the due date is hs_timestamp."""
    items = []
    for i in range(150):
        contact = state.create_contact(f"c{i}@example.com", "C", str(i))
        owner = OWNERS[0] if i < 100 else None
        if i >= 100 and i < 125:
            state.update_contact(contact, {"hubspot_owner_id": OWNERS[1]})
        ticket = state.create_ticket(f"t{i}", contact, closed_at=NOW, owner_id=owner)
        items.append(_item(f"cl-followup-{i}", contact, ticket, owner_id=OWNERS[2]))
    sandbox.reset_calls()
    result = adapter.write_follow_ups(items)
    assert len(result.created) == 150
    assert adapter.calls_by_endpoint() == \
        {"tickets_read": 2, "contacts_read": 1, "tasks_create": 2}
    tasks = {t["hs_task_subject"].rsplit("[", 1)[1].rstrip("]"): t for t in state.tasks()}
    assert OWNERS[0] == tasks["cl-followup-0"]["hubspot_owner_id"]
    assert OWNERS[1] == tasks["cl-followup-110"]["hubspot_owner_id"]
    assert OWNERS[2] == tasks["cl-followup-140"]["hubspot_owner_id"]
    escaped = "CSAT 1 &lt;b&gt;bad&lt;/b&gt;<br>Comment: slow"
    assert tasks["cl-followup-0"]["hs_task_body"] == escaped
    assert tasks["cl-followup-0"]["hs_timestamp"] == "2026-05-01T16:00:00.000Z"


def test_hubspot_deleted_ticket_refuses_only_its_task(
        adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """A task whose ticket was deleted is refused (halving finds it); the others land."""
    items = []
    for i in range(4):
        contact = state.create_contact(f"c{i}@example.com", "C", str(i))
        ticket = state.create_ticket(f"t{i}", contact, closed_at=NOW, owner_id=OWNERS[0])
        items.append(_item(f"k{i}", contact, ticket))
    state.delete_ticket(str(items[2].ticket_id))
    result = adapter.write_follow_ups(items)
    assert sorted(result.created) == ["k0", "k1", "k3"]
    assert list(result.rejected) == ["k2"]


def test_hubspot_update_of_a_deleted_task_is_refused(
        adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """A re-score updates its task; a task id HubSpot does not know is refused, not created."""
    contact = state.create_contact("a@example.com", "A", "B")
    ticket = state.create_ticket("t", contact, closed_at=NOW, owner_id=OWNERS[0])
    made = adapter.write_follow_ups([_item("k", contact, ticket)]).created["k"]
    result = adapter.write_follow_ups([
        _item("k", contact, ticket, crm_id=made, subject="Follow up: now 2"),
        _item("gone", contact, ticket, crm_id="1")])
    assert {"k": made} == result.updated
    assert list(result.rejected) == ["gone"]
    assert state.tasks()[0]["hs_task_subject"] == "Follow up: now 2 [k]"


def test_hubspot_check_first_finds_the_task_instead_of_creating(
        adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """An item retried with check_first whose task exists is reported created, not made."""
    contact = state.create_contact("a@example.com", "A", "B")
    ticket = state.create_ticket("t", contact, closed_at=NOW, owner_id=OWNERS[0])
    made = adapter.write_follow_ups([_item("k", contact, ticket)]).created["k"]
    again = adapter.write_follow_ups([_item("k", contact, ticket, check_first=True)])
    assert {"k": made} == again.created
    assert len(state.tasks()) == 1


def test_zendesk_follow_up_links_a_closed_original_and_names_the_others(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """A closed original gets via_followup_source_id (Zendesk's follow-up link); a solved one
    is not linked (Zendesk would refuse it). Requester, group, assignee, tags, private
    comment and external_id are set; one create_many job for both."""
    group = zd_state.create_group("Support")
    agent = zd_state.create_user("agent@acme.example", "Agent", role="agent")
    users = [zd_state.create_user(f"u{i}@example.com") for i in range(2)]
    closed = zd_state.create_ticket("a", users[0], group_id=group, status="solved")
    zd_state.tickets[int(closed)].assignee_id = int(agent)
    zd_state.close_ticket(closed)
    solved = zd_state.create_ticket("b", users[1], group_id=group, status="solved")
    result = zd_adapter.write_follow_ups([
        _item("ka", users[0], closed, tags=("closedloop_follow_up",)),
        _item("kb", users[1], solved, tags=("closedloop_follow_up",))])
    assert sorted(result.created) == ["ka", "kb"]
    first = zd_state.tickets[int(result.created["ka"])]
    second = zd_state.tickets[int(result.created["kb"])]
    assert (int(closed), int(agent), int(group), int(users[0]), "ka") == (
        first.followup_source_id, first.assignee_id, first.group_id, first.requester_id,
        first.external_id)
    assert (None, None, int(group)) == (second.followup_source_id, second.assignee_id,
                                        second.group_id)
    assert [c["public"] for c in first.comments] == [False]
    assert first.tags == ["closedloop_follow_up"]
    assert zd_sandbox.calls["POST /api/v2/tickets/create_many.json"] == 1


def test_zendesk_check_first_finds_the_ticket_by_external_id(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState) -> None:
    """A retried create looks its external_id up and keeps the ticket it finds."""
    user = zd_state.create_user("u@example.com")
    original = zd_state.create_ticket("a", user, status="solved")
    made = zd_adapter.write_follow_ups([_item("k", user, original)]).created["k"]
    again = zd_adapter.write_follow_ups([_item("k", user, original, check_first=True)])
    assert {"k": made} == again.created
    assert sum(1 for t in zd_state.tickets.values() if t.external_id == "k") == 1


def test_zendesk_rescore_adds_a_private_comment_and_a_gone_user_is_refused(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState) -> None:
    """An update adds its text as a private comment; a requester Zendesk does not know
    refuses only that create."""
    user = zd_state.create_user("u@example.com")
    original = zd_state.create_ticket("a", user, status="solved")
    made = zd_adapter.write_follow_ups([_item("k", user, original)]).created["k"]
    result = zd_adapter.write_follow_ups([
        _item("k", user, original, crm_id=made, update_text="Update: now 2"),
        _item("gone", "999999", original)])
    assert {"k": made} == result.updated
    assert list(result.rejected) == ["gone"]
    comments = zd_state.tickets[int(made)].comments
    assert [(c["body"], c["public"]) for c in comments[1:]] == [("Update: now 2", False)]
