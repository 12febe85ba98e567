"""Several programs of one type, each with its own property prefix, end to end on each CRM's
sandbox (issue 4: "Several programs of one type at once (e.g. NPS per product line), each
with its own properties prefix in the mappings").

Two ticket-triggered NPS programs, `cl_nps_pro` on the support pipeline (brand in Zendesk)
and `cl_nps_lite` on billing. The loop's setup (ensure_properties over the runtime's
mappings, as `closedloop setup` does) must create both prefixes' properties / user fields;
the sandboxes refuse a write to one that does not exist. One person answers both surveys
differently; after write-back the CRM record holds each answer under its own prefix, and the
type's default prefix (`cl_nps`) stays empty.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from e2e_loop import Loop

ANSWER = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")
PROGRAMS = {"pro": "cl_nps_pro", "lite": "cl_nps_lite"}
STEMS = ("last_rating", "last_comment", "last_category", "last_answered", "last_sent")


def _programs(source: str, support: str, billing: str) -> dict[str, Any]:
    return {"programs": [
        {"name": "nps-pro", "type": "nps", "source": source, "delay": "1h",
         "company": "Acme Pro", "pipelines": [support], "prefix": PROGRAMS["pro"]},
        {"name": "nps-lite", "type": "nps", "source": source, "delay": "1h",
         "company": "Acme Lite", "pipelines": [billing], "prefix": PROGRAMS["lite"]},
    ]}


# The loop's config is built before the driver exists, so each CRM gets its own parameter set
# with its pipelines (HubSpot) / brands (Zendesk) spelled out; see HubSpotDriver/ZendeskDriver.
PER_CRM = {"hubspot": _programs("hubspot", "0", "5"), "zendesk": _programs("zendesk", "1", "2")}


@pytest.fixture
def loop_options(crm_name: str) -> dict[str, Any]:
    return PER_CRM[crm_name]


def defined(loop: Loop) -> set[str]:
    """The contact properties (HubSpot) / user field keys (Zendesk) that exist in the CRM."""
    state: Any = loop.crm.state  # type: ignore[attr-defined]
    if loop.crm.crm == "hubspot":
        return set(state.properties["contacts"])
    return set(state.fields)


def answer(loop: Loop, index: int, score: int, comment: str) -> None:
    body = loop.sink.messages[index].get_body(("plain",))
    assert body is not None
    links = {int(s): url for url, s in ANSWER.findall(body.get_content())}
    assert sorted(links) == list(range(11))  # NPS: 0..10
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        answered = web.post(links[score])
        assert answered.status_code == 200
        assert web.post(str(answered.url), data={"comment": comment}).status_code == 200


def test_two_nps_programs_write_to_their_own_prefixes(loop: Loop) -> None:
    assert loop.crm.support in loop.config.programs[0].pipelines  # PER_CRM matches the driver
    assert loop.crm.billing in loop.config.programs[1].pipelines
    names = defined(loop)
    for prefix in (*PROGRAMS.values(), "cl_nps"):
        for stem in STEMS:
            assert any(n.startswith(f"{prefix}_{stem}") for n in names), (prefix, stem)

    _, contact = loop.close_ticket("ada@example.com", pipeline=loop.crm.support)
    loop.close_ticket(None, contact=contact, pipeline=loop.crm.billing)
    assert loop.rt.poll()[loop.source].queued == 2
    loop.clock.advance(timedelta(hours=1))
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.skipped)) == (2, {})
    companies = ["Acme Pro" in str(m["Subject"]) + str(m.get_body(("plain",)))
                 for m in loop.sink.messages]
    pro, lite = (0, 1) if companies == [True, False] else (1, 0)
    assert sorted(companies) == [False, True]  # one mail per program

    answer(loop, pro, 9, "Pro is great")
    answer(loop, lite, 3, "Lite keeps crashing")
    loop.rt.write_back()

    assert loop.prop(contact, "cl_nps_pro_last_rating") == "9"
    assert loop.prop(contact, "cl_nps_pro_last_comment") == "Pro is great"
    assert loop.prop(contact, "cl_nps_pro_last_category") == "promoter"
    assert loop.prop(contact, "cl_nps_lite_last_rating") == "3"
    assert loop.prop(contact, "cl_nps_lite_last_comment") == "Lite keeps crashing"
    assert loop.prop(contact, "cl_nps_lite_last_category") == "detractor"
    for prefix in PROGRAMS.values():
        assert loop.prop(contact, f"{prefix}_last_answered")
        assert loop.prop(contact, f"{prefix}_last_sent")
    default = [k for k in loop.props(contact) if k.startswith("cl_nps_last_")]
    assert default == []  # neither program wrote to the type's default prefix
