"""Which answer is "last" on the CRM record (DESIGN.md's invariant): ordered by the time each
survey was first answered, whatever the survey's age. An older survey answered for the first
time after a newer one becomes the last; a re-score or comment updates its own survey's answer
and moves the record only if that survey is the last answered.

Real store (SQLite and PostgreSQL), the real write-back job and hubspot-api-client over HTTP
to the sandbox HubSpot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.jobs.writeback import write_back
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.mappings import CrmMapping, load_mapping

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TOKEN = "last-token"
NPS = Program(name="nps", type=SurveyType.NPS, source="hubspot", delay=timedelta(0),
              company="Acme")
Scene = tuple[HubSpotState, HubSpotAdapter, CrmMapping, str]


@pytest.fixture
def scene() -> Iterator[Scene]:
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0, port=0) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, timeout=(2, 5),
                                 retry=RetryPolicy(max_attempts=1, max_delay=1.0,
                                                   sleep=lambda s: None))
        mapping = load_mapping("hubspot", programs=[NPS])
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        yield state, adapter, mapping, state.create_contact("ada@example.com", "Ada", "Doe")


def sent(store: Store, key: str, contact: str, at: datetime) -> int:
    """A survey queued and sent at `at` (a later survey: a larger id, later queued and sent)."""
    store.add_sends([NewSend(idem_key=key, program="nps", survey_type="nps", source="hubspot",
                             contact_id=contact, due_at=at, created_at=at, ticket_id=key,
                             email="ada@example.com")])
    [send] = store.claim_due_sends(at, 1, timedelta(minutes=5))
    assert store.begin_sending(send.id, at)
    store.mark_sent(send.id, at, f"<{key}@acme.example>")
    return send.id


def on_record(state: HubSpotState, contact: str) -> tuple[str, str, str]:
    props = state.contact(contact)["properties"]
    return (str(props.get("cl_nps_last_rating")), str(props.get("cl_nps_last_comment") or ""),
            str(props.get("cl_feedback_last_survey_type")))


@pytest.mark.parametrize("write_between", [True, False], ids=["two-rounds", "one-round"])
def test_an_older_survey_first_answered_after_a_newer_one_becomes_the_last(
        store: Store, scene: Scene, write_between: bool) -> None:
    """October's survey (queued and sent first) answered for the first time after November's:
    its 3 is the last answer on the record, whether the write-back ran in between or not."""
    state, adapter, mapping, contact = scene
    older = sent(store, "october", contact, T0)
    newer = sent(store, "november", contact, T0 + 5 * DAY)
    store.record_response(newer, 9, "promoter", T0 + 6 * DAY)
    if write_between:
        write_back(store, adapter, mapping, T0 + 6 * DAY + timedelta(minutes=1))
        assert on_record(state, contact) == ("9", "", "nps")
    store.record_response(older, 3, "detractor", T0 + 7 * DAY)
    store.record_comment(older, "slow refund", T0 + 7 * DAY + timedelta(minutes=1))
    write_back(store, adapter, mapping, T0 + 7 * DAY + timedelta(minutes=2))
    assert on_record(state, contact) == ("3", "slow refund", "nps")


def test_first_answers_a_second_apart_either_way(store: Store, scene: Scene) -> None:
    """Both sides of the ordering edge: the survey first answered one second later wins,
    whichever of the two it is."""
    state, adapter, mapping, contact = scene
    older = sent(store, "october", contact, T0)
    newer = sent(store, "november", contact, T0 + 5 * DAY)
    at = T0 + 6 * DAY
    store.record_response(older, 2, "detractor", at)
    store.record_response(newer, 8, "passive", at + timedelta(seconds=1))
    write_back(store, adapter, mapping, at + timedelta(minutes=1))
    assert on_record(state, contact)[0] == "8"
    other = state.create_contact("bo@example.com", "Bo", "Doe")
    older = sent(store, "october-bo", other, T0)
    newer = sent(store, "november-bo", other, T0 + 5 * DAY)
    store.record_response(newer, 8, "passive", at)
    store.record_response(older, 2, "detractor", at + timedelta(seconds=1))
    write_back(store, adapter, mapping, at + timedelta(minutes=1))
    assert on_record(state, other)[0] == "2"


def test_a_rescore_or_comment_moves_the_record_only_for_the_last_answered_survey(
        store: Store, scene: Scene) -> None:
    """October answered first (3), November after (9): October's later re-score and comment
    are stored on October's answer but leave November's 9 on the record; a re-score of
    November, the last answered, does move it."""
    state, adapter, mapping, contact = scene
    older = sent(store, "october", contact, T0)
    newer = sent(store, "november", contact, T0 + 5 * DAY)
    store.record_response(older, 3, "detractor", T0 + 5 * DAY + timedelta(hours=1))
    store.record_response(newer, 9, "promoter", T0 + 6 * DAY)
    write_back(store, adapter, mapping, T0 + 6 * DAY + timedelta(minutes=1))
    assert on_record(state, contact) == ("9", "", "nps")
    trigger = state.contact(contact)["properties"]["cl_feedback_last_response_at"]
    store.record_response(older, 5, "detractor", T0 + 7 * DAY)
    store.record_comment(older, "still waiting", T0 + 7 * DAY + timedelta(minutes=1))
    write_back(store, adapter, mapping, T0 + 7 * DAY + timedelta(minutes=2))
    assert on_record(state, contact) == ("9", "", "nps")
    assert state.contact(contact)["properties"]["cl_feedback_last_response_at"] == trigger
    stored = store.get_response(older)
    assert stored is not None
    assert (stored.score, stored.comment) == (5, "still waiting")
    store.record_response(newer, 7, "passive", T0 + 8 * DAY)
    write_back(store, adapter, mapping, T0 + 8 * DAY + timedelta(minutes=1))
    assert on_record(state, contact) == ("7", "", "nps")
    assert state.contact(contact)["properties"]["cl_feedback_last_response_at"] != trigger
