"""The endpoints `closedloop forget` uses to remove what quotes a person, driven by the
real clients: HubSpot notes batch archive (hubspot-api-client) and Zendesk's comment
redactions (zenpy's own URL building and PUT, as the adapter does)."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.notes import BatchInputSimplePublicObjectId, SimplePublicObjectId
from zenpy.lib.endpoint import SecondaryEndpoint
from zenpy.lib.exception import APIException, RecordNotFoundException

from closedloop.integration.sandbox.hubspot import HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskState

REDACTIONS = SecondaryEndpoint("comment_redactions/%(id)s")


def _archive(client: Any, ids: list[str]) -> Any:
    return client.crm.objects.notes.batch_api.archive(
        batch_input_simple_public_object_id=BatchInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids]))


def _ticket_notes(client: Any, ticket: str) -> list[str]:
    answer = client.crm.associations.v4.batch_api.get_page(
        from_object_type="tickets", to_object_type="notes",
        batch_input_public_fetch_associations_batch_request=(
            BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=ticket)])))
    return [str(to.to_object_id) for row in answer.results or [] for to in row.to or []]


def test_hubspot_archived_note_leaves_associations_and_a_retry_is_harmless(
        client: Any, state: HubSpotState) -> None:
    """Archive answers 204 with no body; the note is gone from the ticket's associations,
    the other note stays; archiving it again, or an unknown id, is no error."""
    ticket = next(iter(state.tickets))
    gone = state.add_note({"hs_note_body": "a [cl-hook-1]"}, [], [ticket]).id
    kept = state.add_note({"hs_note_body": "agent's"}, [], [ticket]).id
    assert _archive(client, [gone]) is None
    assert _ticket_notes(client, ticket) == [kept]
    assert list(state.archived_notes) == [gone]
    assert _archive(client, [gone, "999999"]) is None
    assert _ticket_notes(client, ticket) == [kept]


def _redact(zd: Any, ticket_id: int, comment_id: int, html: str) -> Any:
    api = zd.tickets
    return api._put(api._build_url(REDACTIONS(comment_id)),
                    {"ticket_id": ticket_id, "html_body": html})


def test_zendesk_redaction_blocks_the_wrapped_text_even_on_a_closed_ticket(
        zd: Any, zd_state: ZendeskState) -> None:
    """The wrapped characters become ▇ (one each), the rest stays; it works on a closed
    ticket, which no update may change."""
    closed = next(t for t in zd_state.tickets.values() if t.status == "closed")
    comment = zd_state._add_comment(closed, "Score 1: slow [cl-hook-4]", False,
                                    closed.requester_id, closed.created)
    _redact(zd, closed.id, comment["id"], "<p>Score 1: <redact>slow [cl-hook-4]</redact></p>")
    [stored] = [c for c in zd_state.comments(str(closed.id)) if c["id"] == comment["id"]]
    assert stored["body"] == "Score 1: " + "▇" * len("slow [cl-hook-4]")


def test_zendesk_redaction_refuses_another_text_and_unknown_records(
        zd: Any, zd_state: ZendeskState) -> None:
    """An html_body that is not the comment's (minus the tags) is a 422 and changes
    nothing; an unknown comment or ticket is a 404 RecordNotFound."""
    ticket = next(t for t in zd_state.tickets.values() if t.status == "solved")
    comment = zd_state._add_comment(ticket, "keep me", False, ticket.requester_id,
                                    ticket.created)
    with pytest.raises(APIException) as refused:
        _redact(zd, ticket.id, comment["id"], "<p><redact>other text</redact></p>")
    assert refused.value.response.status_code == 422
    assert [c["body"] for c in zd_state.comments(str(ticket.id))][-1] == "keep me"
    with pytest.raises(RecordNotFoundException):
        _redact(zd, ticket.id, 987654, "<p><redact>keep me</redact></p>")
    with pytest.raises(RecordNotFoundException):
        _redact(zd, 987654, comment["id"], "<p><redact>keep me</redact></p>")
