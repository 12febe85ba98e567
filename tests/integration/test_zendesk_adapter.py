"""ZendeskAdapter users, write-back, user-field setup, online check and NPS member
selections, over HTTP against the sandbox (real zenpy)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from closedloop.integration.base import ContactUpdate, MemberSelection, PropertySpec
from closedloop.integration.errors import TransientError
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ENDPOINTS, ZendeskAdapter, _jobs

SPECS = [
    PropertySpec("cl_nps_score", "Last NPS score", type="integer", field_type="integer"),
    PropertySpec("cl_nps_comment", "Last NPS comment", type="textarea", field_type="textarea"),
    PropertySpec("cl_nps_category", "Last NPS category", type="dropdown", field_type="dropdown",
                 options=("detractor", "passive", "promoter")),
    PropertySpec("cl_nps_date", "Last NPS answer", type="date", field_type="date"),
]


def _people(state: ZendeskState, n: int, **kwargs: object) -> list[str]:
    return [state.create_user(f"p{i}@example.com", f"P{i} Doe", **kwargs)  # type: ignore[arg-type]
            for i in range(n)]


@pytest.fixture
def with_fields(zd_adapter: ZendeskAdapter) -> ZendeskAdapter:
    zd_adapter.ensure_properties("ignored", "ignored", SPECS)
    return zd_adapter


def test_contacts_read_in_hundreds_with_all_fields(zd_adapter: ZendeskAdapter,
                                                   zd_state: ZendeskState,
                                                   zd_sandbox: ZendeskSandbox) -> None:
    """250 known ids and one unknown: 3 show_many calls, the unknown one left out; name
    split, language from the locale, IANA zone, organization, customer since."""
    org = zd_state.create_organization("Acme")
    since = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    ada = zd_state.create_user("ada@example.fr", "Ada Lovelace", locale="fr-FR",
                               time_zone="Europe/Paris", organization_id=org, created_at=since)
    ids = [ada, *_people(zd_state, 249, locale="no")]
    zd_sandbox.reset_calls()

    found = zd_adapter.contacts([*ids, "999999", ada])

    assert set(found) == set(ids)
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["users_show_many"]: 3}
    first = found[ada]
    assert (first.email, first.first_name, first.last_name, first.language, first.timezone,
            first.organization_id, first.customer_since) == (
        "ada@example.fr", "Ada", "Lovelace", "fr", "Europe/Paris", org, since)
    assert found[ids[1]].language == "nb"


def test_ensure_properties_is_idempotent(zd_adapter: ZendeskAdapter, zd_state: ZendeskState,
                                         zd_sandbox: ZendeskSandbox) -> None:
    """First run creates the four fields (dropdown with its options); the second creates
    nothing and only lists the fields (one call)."""
    assert zd_adapter.ensure_properties("g", "G", SPECS) == [s.name for s in SPECS]
    fields = {f["key"]: f for f in zd_state.user_fields()}
    assert [f["type"] for f in fields.values()] == ["integer", "textarea", "dropdown", "date"]
    assert [o["value"] for o in fields["cl_nps_category"]["custom_field_options"]] == [
        "detractor", "passive", "promoter"]
    assert fields["cl_nps_score"]["title"] == "Last NPS score"
    zd_sandbox.reset_calls()
    assert zd_adapter.ensure_properties("g", "G", SPECS) == []
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["user_fields"]: 1}


def test_write_contacts_in_jobs_of_100_with_per_user_failures(
        with_fields: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox,
        sleeps: list[float]) -> None:
    """150 users → 2 update_many jobs, both submitted first and then followed together
    (one show_many per round); a bad integer and an unknown user are refused with
    Zendesk's words, every other user is written."""
    ids = _people(zd_state, 150)
    updates = [ContactUpdate(uid, {"cl_nps_score": str(i % 11), "cl_nps_category": "promoter",
                                   "cl_nps_date": "2026-05-01"}) for i, uid in enumerate(ids)]
    updates[3] = ContactUpdate(ids[3], {"cl_nps_score": "nine"})
    updates.append(ContactUpdate("999999", {"cl_nps_score": "5"}))
    zd_sandbox.reset_calls()

    result = with_fields.write_contacts(updates)

    assert sorted(result.rejected) == sorted([ids[3], "999999"])
    assert "cl_nps_score: is not a number" in result.rejected[ids[3]]
    assert result.written == [uid for uid in ids if uid != ids[3]]
    user = zd_state.user(ids[7])["user_fields"]
    assert (user["cl_nps_score"], user["cl_nps_category"], user["cl_nps_date"]) == (
        7, "promoter", "2026-05-01")
    calls = zd_sandbox.calls_snapshot()
    assert calls[ENDPOINTS["users_update_many"]] == 2
    # both jobs "working" in round one, "completed" in round two: one request per round
    assert calls[ENDPOINTS["job_statuses_show_many"]] == 2
    assert sleeps == [0.5] * 2


def test_jobs_in_flight_are_capped(with_fields: ZendeskAdapter, zd_state: ZendeskState,
                                   zd_sandbox: ZendeskSandbox, sleeps: list[float],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Zendesk's job limit (MAX_IN_FLIGHT, 30) shrunk to 2: 450 users are 5 jobs run 2, 2
    and 1 at a time, each window followed together (2 rounds), so 6 show_many requests
    where uncapped it would be 2; every user is written, in the order given."""
    monkeypatch.setattr(_jobs, "MAX_IN_FLIGHT", 2)
    ids = _people(zd_state, 450)
    zd_sandbox.reset_calls()

    result = with_fields.write_contacts([ContactUpdate(uid, {"cl_nps_score": "7"})
                                         for uid in ids])

    assert (result.written, result.rejected) == (ids, {})
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["users_update_many"]: 5,
                                           ENDPOINTS["job_statuses_show_many"]: 6}
    assert len(sleeps) == 6
    assert zd_state.user(ids[-1])["user_fields"]["cl_nps_score"] == 7


def test_empty_value_blanks_a_field_and_merges(with_fields: ZendeskAdapter,
                                               zd_state: ZendeskState) -> None:
    """Two updates for one user merge (later wins); "" clears the comment (null)."""
    (uid,) = _people(zd_state, 1)
    with_fields.write_contacts([ContactUpdate(uid, {"cl_nps_score": "3",
                                                    "cl_nps_comment": "slow refund"})])
    result = with_fields.write_contacts([ContactUpdate(uid, {"cl_nps_score": "8"}),
                                         ContactUpdate(uid, {"cl_nps_score": "9",
                                                             "cl_nps_comment": ""})])
    assert result.written == [uid]
    fields = zd_state.user(uid)["user_fields"]
    assert (fields["cl_nps_score"], fields["cl_nps_comment"]) == (9, None)


def test_job_still_working_at_the_timeout_hands_rows_back(zd_state: ZendeskState) -> None:
    """A job reported "working" past job_timeout raises TransientError (rows retried)."""
    (uid,) = _people(zd_state, 1)
    waits: list[float] = []
    with ZendeskSandbox(zd_state, job_polls=10) as sandbox, ZendeskAdapter(
            "zendesk", subdomain=sandbox.subdomain, email=sandbox.email, token=sandbox.token,
            base_url=sandbox.url, sleep=waits.append, job_poll_interval=1.0,
            job_timeout=3.0, single_max=0) as adapter:  # a job even for one user
        adapter.ensure_properties("g", "G", SPECS)
        with pytest.raises(TransientError, match="still working after 3 s"):
            adapter.write_contacts([ContactUpdate(uid, {"cl_nps_score": "1"})])
        assert adapter.calls_by_endpoint()["job_statuses_show_many"] == 3
    assert waits == [1.0, 1.0, 1.0]


def test_check_online_role_and_missing_fields(zd_adapter: ZendeskAdapter) -> None:
    """An admin token with two mapped fields missing: listed as missing (the CLI counts them),
    no other problem."""
    zd_adapter.ensure_properties("g", "G", SPECS[:2])
    check = zd_adapter.check_online([], [s.name for s in SPECS])
    assert not check.ok
    assert check.scopes == ["role:admin"]
    assert check.missing_properties == ["cl_nps_category", "cl_nps_date"]
    assert check.problems == []
    zd_adapter.ensure_properties("g", "G", SPECS)
    assert zd_adapter.check_online([], [s.name for s in SPECS]).ok


def test_check_online_agent_token_needs_an_admin_for_setup(zd_state: ZendeskState) -> None:
    """An agent's token works for polling and writing, but setup needs an admin: the
    problem says so beside the missing fields."""
    zd_state.create_user("agent@example.com", "Ann Agent", role="agent")
    with ZendeskSandbox(zd_state, email="agent@example.com") as sandbox, ZendeskAdapter(
            "zendesk", subdomain=sandbox.subdomain, email=sandbox.email, token=sandbox.token,
            base_url=sandbox.url) as adapter:
        check = adapter.check_online([], ["cl_nps_score"])
    assert (check.scopes, check.missing_properties) == (["role:agent"], ["cl_nps_score"])
    assert check.problems == ["the token's user is agent: only an admin's token can create the "
                              "missing user fields with setup"]


def test_members_of_an_organization_over_two_pages(zd_adapter: ZendeskAdapter,
                                                   zd_state: ZendeskState,
                                                   zd_sandbox: ZendeskSandbox) -> None:
    """150 members → two pages of 100 and 50 (two calls); other users are not members."""
    org = zd_state.create_organization("Acme")
    members = _people(zd_state, 150, organization_id=org)
    zd_state.create_user("outsider@example.com")
    zd_sandbox.reset_calls()
    pages = list(zd_adapter.members(MemberSelection(organization_id=org)))
    assert [len(p) for p in pages] == [100, 50]
    assert sorted(c.id for p in pages for c in p) == sorted(members)
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["organization_users"]: 2}


def test_members_by_tag_and_by_query_use_the_search_export(zd_adapter: ZendeskAdapter,
                                                           zd_state: ZendeskState,
                                                           zd_sandbox: ZendeskSandbox) -> None:
    """A tag → `tags:<tag>` user search export, paged by cursor (150 → 2 pages); a query is
    passed as written."""
    vips = _people(zd_state, 150, tags=("vip",))
    zd_state.create_user("plain@example.com", tags=("basic",))
    nb = zd_state.create_user("kari@example.no", "Kari Nordmann", locale="nb",
                              tags=("vip", "nordic"))
    zd_sandbox.reset_calls()
    by_tag = list(zd_adapter.members(MemberSelection(tag="vip")))
    assert sorted(c.id for p in by_tag for c in p) == sorted([*vips, nb])
    assert zd_sandbox.calls_snapshot() == {ENDPOINTS["search_export"]: 2}
    by_query = list(zd_adapter.members(MemberSelection(query="tags:nordic role:end-user")))
    assert [[(c.id, c.language) for c in p] for p in by_query] == [[(nb, "nb")]]


def test_counts_match_the_server(with_fields: ZendeskAdapter, zd_state: ZendeskState,
                                 zd_sandbox: ZendeskSandbox, policy: RetryPolicy) -> None:
    """Every request the server saw is counted by the adapter under the same endpoint,
    retried attempts included (a 503 on the job-status poll)."""
    ids = _people(zd_state, 3)
    zd_sandbox.reset_calls()
    zd_sandbox.fail_next(1, status=503, path_prefix="/api/v2/job_statuses")
    before = with_fields.calls_by_endpoint()
    with_fields.contacts(ids)
    with_fields.write_contacts([ContactUpdate(i, {"cl_nps_score": "4"}) for i in ids])
    after = with_fields.calls_by_endpoint()
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    assert {ENDPOINTS[k]: v for k, v in delta.items()} == zd_sandbox.calls_snapshot()
    assert delta == {"users_show_many": 1, "users_update_many": 1, "job_statuses_show_many": 3}
