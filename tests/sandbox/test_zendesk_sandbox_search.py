"""NPS member selections through the real zenpy: organisation members, search, export."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_support import make_zenpy, zd_http

from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState


@pytest.fixture
def crowd() -> ZendeskState:
    """An account with one big organisation: 250 tagged "vip", 1,050 tagged "bulk"."""
    state = ZendeskState()
    org = state.create_organization("Big Co")
    for i in range(1050):
        tags = ["bulk", "vip"] if i < 250 else ["bulk"]
        state.create_user(f"p{i}@big.example", f"Person {i}",
                          organization_id=org if i < 230 else None, tags=tags)
    return state


@pytest.fixture
def crowd_zd(crowd: ZendeskState, monkeypatch: pytest.MonkeyPatch) -> Any:
    with ZendeskSandbox(crowd) as sb:
        yield sb, make_zenpy(sb, monkeypatch)


def test_organization_members_page_with_cursor_links(crowd_zd: Any,
                                                      crowd: ZendeskState) -> None:
    """zenpy asks page[size]=100 and follows links.next: 230 members in 3 requests."""
    sb, zd = crowd_zd
    org = next(iter(crowd.organizations))
    members = [u.id for u in zd.organizations.users(org)]
    assert members == sorted(u.id for u in crowd.users.values() if u.organization_id == org)
    assert sb.calls["GET /api/v2/organizations/{id}/users.json"] == 3


def test_organization_members_offset_paging_links_are_absolute(crowd_zd: Any,
                                                                crowd: ZendeskState) -> None:
    sb, _ = crowd_zd
    org = next(iter(crowd.organizations))
    body = zd_http(sb, "GET", f"/api/v2/organizations/{org}/users.json",
                   params={"per_page": 100, "page": 2}).json()
    assert (len(body["users"]), body["count"]) == (100, 230)
    assert body["next_page"].startswith(f"{sb.url}/api/v2/organizations/{org}/users.json?")
    assert "page=3" in body["next_page"]
    last = zd_http(sb, "GET", body["next_page"].removeprefix(sb.url)).json()
    assert (len(last["users"]), last["next_page"]) == (30, None)
    missing = zd_http(sb, "GET", "/api/v2/organizations/1/users.json")
    assert (missing.status_code, missing.json()["error"]) == (404, "RecordNotFound")


def test_search_pages_by_100(crowd_zd: Any) -> None:
    sb, zd = crowd_zd
    found = zd.search(type="user", tags="vip")
    assert found.count == 250
    assert len({u.id for u in found}) == 250
    assert sb.calls["GET /api/v2/search.json"] == 3


def test_search_stops_at_1000_results_like_zendesk(crowd_zd: Any) -> None:
    """Page 11 is a 422 "invalid": zenpy logs it and stops after 1,000 results."""
    sb, zd = crowd_zd
    assert len(list(zd.search(type="user", tags="bulk"))) == 1000
    refused = zd_http(sb, "GET", "/api/v2/search.json",
                      params={"query": "type:user tags:bulk", "page": 11})
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid"


def test_search_export_has_no_cap(crowd_zd: Any) -> None:
    """search/export pages with cursors (meta.has_more, links.next) through all 1,050."""
    sb, zd = crowd_zd
    ids = [u.id for u in zd.search_export(type="user", tags="bulk")]
    assert len(set(ids)) == 1050
    assert sb.calls["GET /api/v2/search/export.json"] == 11
    body = zd_http(sb, "GET", "/api/v2/search/export.json",
                   params={"query": "tags:vip", "filter[type]": "user",
                           "page[size]": 200}).json()
    assert body["meta"]["has_more"] is True
    assert body["links"]["next"].startswith(f"{sb.url}/api/v2/search/export.json?")
    no_type = zd_http(sb, "GET", "/api/v2/search/export.json", params={"query": "tags:vip"})
    assert no_type.status_code == 400


def test_query_terms(zd: Any, zd_state: ZendeskState) -> None:
    """Different keywords AND, one keyword repeated ORs, "-" negates, email is exact,
    free words match names; tickets compare statuses in Zendesk's order."""
    org = zd_state.create_organization("Fjord AS")
    nora = int(zd_state.create_user("nora@fjord.example", "Nora Fjordheim", "nb",
                                    organization_id=org, tags=["vip"]))
    emil = int(zd_state.create_user("emil@fjord.example", "Emil Fjordheim", "nb",
                                    organization_id=org, tags=["beta"]))
    zd_state.create_user("agent2@fjord.example", "Fjordheim Agent", organization_id=org,
                         role="agent")

    def ids(**kwargs: Any) -> set[int]:
        return {u.id for u in zd.search(type="user", **kwargs)}

    assert ids(organization_id=org, role="end-user") == {nora, emil}
    assert ids(organization_id=org, tags=["vip", "beta"]) == {nora, emil}
    assert ids(organization_id=org, minus="tags:vip") == {emil} | ids(role="agent",
                                                                      organization_id=org)
    assert ids(email="NORA@fjord.example") == {nora}
    assert {u.id for u in zd.search("nora fjordheim", type="user")} == {nora}
    done = {t.id for t in zd.search("status>=solved", type="ticket")}
    assert done == {t.id for t in zd_state.tickets.values() if t.status in ("solved", "closed")}


def test_unknown_search_keyword_is_a_clear_400(zd_sandbox: ZendeskSandbox) -> None:
    answer = zd_http(zd_sandbox, "GET", "/api/v2/search.json",
                     params={"query": "type:user shoe_size:44"})
    assert answer.status_code == 400
    assert "shoe_size" in answer.json()["description"]
