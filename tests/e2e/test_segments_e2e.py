"""Custom segments captured when a survey is queued, end to end on each sandbox CRM.

The config names a `region` contact property (Zendesk: user field) and a `store` ticket
property (Zendesk: the "Store" custom ticket field, by id); the real adapter reads them in
the calls the poll and the cadence already make, and the real store keeps them on the send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_loop import Loop
from pydantic import SecretStr
from sqlalchemy import select

from closedloop.daemon.demo import CUSTOMERS, WEBHOOK, demo_config, demo_crm
from closedloop.daemon.demo_receiver import demo_secret
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.jobs.cadence import run_cadence
from closedloop.daemon.plan import plan_tables
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.store import SendRecord
from closedloop.daemon.store.records import send_record
from closedloop.daemon.store.sends import SENDS
from closedloop.integration.sandbox._seed import STORES
from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide


@pytest.fixture
def loop_options(crm_name: str) -> dict[str, Any]:
    side = HubSpotSide if crm_name == "hubspot" else ZendeskSide
    return {"reporting": {"segments": side.segments(), "scope": ["region", "store"]}}


def sends_of(loop: Loop, contact: str) -> list[SendRecord]:
    with loop.rt.store.engine.connect() as conn:
        rows = conn.execute(SENDS.select().where(SENDS.c.contact_id == contact)
                            .order_by(SENDS.c.id)).mappings().all()
    return [send_record(r) for r in rows]


def set_region(loop: Loop, contact: str, region: str) -> None:
    """The CRM's admin sets a person's region (HubSpot property, Zendesk user field)."""
    if isinstance(loop.crm, HubSpotSide):
        loop.crm.state.update_contact(contact, {"region": region})
    else:
        assert isinstance(loop.crm, ZendeskSide)
        with loop.crm.state.lock:
            loop.crm.state.users[int(contact)].user_fields["region"] = region


def test_poll_captures_region_and_store_on_the_send(loop: Loop) -> None:
    """A ticket about store "oslo" from a person in region "north" queues a send carrying
    both; a person and ticket with neither queue a send with no segments (NULL, not "");
    the person's region changing later does not move the captured value."""
    at = loop.clock.now - timedelta(seconds=30)
    ada = loop.crm.create_contact("ada@example.com", "Ada", region="north")
    loop.crm.close_new_ticket(ada, loop.crm.support, at, store="oslo")
    bob = loop.crm.create_contact("bob@example.com", "Bob")
    loop.crm.close_new_ticket(bob, loop.crm.support, at)

    loop.rt.poll()
    set_region(loop, ada, "south")
    loop.clock.advance(timedelta(minutes=1))
    loop.rt.poll()

    [ada_send] = sends_of(loop, ada)
    [bob_send] = sends_of(loop, bob)
    assert ada_send.segments == {"region": "north", "store": "oslo"}
    assert bob_send.segments is None


def test_plan_shows_the_segments_a_new_ticket_would_carry(loop: Loop) -> None:
    """`closedloop plan` reads new tickets with the same properties: each planned row
    carries its segments (JSON) and the table gets a segments column."""
    at = loop.clock.now - timedelta(seconds=30)
    ada = loop.crm.create_contact("ada@example.com", "Ada", region="west")
    loop.crm.close_new_ticket(ada, loop.crm.support, at, store="paris")

    plan = loop.rt.plan(days=1)

    [entry] = [e for e in plan.entries if e.contact_id == ada and e.kind == "survey"]
    assert entry.as_dict()["segments"] == {"region": "west", "store": "paris"}
    header = plan_tables(plan)[1].columns[-1].header  # type: ignore[attr-defined]
    assert header == "segments"


def test_cadence_captures_the_members_region(loop: Loop) -> None:
    """An NPS list program's rows (one per cycle within the horizon) carry the member's
    contact segment, read with the members; ticket segments stay empty: there is no
    ticket."""
    long_ago = loop.clock.now - timedelta(days=400)
    north = loop.crm.create_member("n@example.com", "North", long_ago)
    set_region(loop, north, "north")
    nowhere = loop.crm.create_member("x@example.com", "Nowhere", long_ago)
    audience = loop.crm.make_audience("nps-all", [north, nowhere])
    program = loop.add_program(name="nps", type="nps", company="Acme", every_months=3,
                               customer_for="30d", **audience)

    result = run_cadence(loop.rt.store, loop.rt.adapters[loop.source], [program],
                         loop.clock.now, horizon=timedelta(days=120),
                         reporting=loop.config.reporting)

    northern, unplaced = sends_of(loop, north), sends_of(loop, nowhere)
    assert (result.queued, len(northern) >= 1) == (len(northern) + len(unplaced), True)
    assert [s.segments for s in northern] == [{"region": "north"}] * len(northern)
    assert [s.segments for s in unplaced] == [None] * len(unplaced)


@pytest.mark.parametrize("crm_name", ["hubspot", "zendesk"])
def test_demo_config_captures_each_customers_region_and_store(crm_name: str,
                                                              tmp_path: Path) -> None:
    """`closedloop demo`'s config declares region and store (scope region -> store), and
    its customers' surveys carry their region and their ticket's store."""
    now = datetime.now(UTC)
    with demo_crm(crm_name, 7, now) as crm:
        config = demo_config(tmp_path, crm, 9, 9, now - timedelta(minutes=5))
        rt = build_runtime(config, Secrets(
            secret_key="demo-segments-secret-0123456789abc",
            source_tokens={crm.name: crm.token},
            webhook_secrets={WEBHOOK: SecretStr(demo_secret())}))
        try:
            rt.store.migrate()
            expected = {}
            for subject, first, address, language, queue, store in CUSTOMERS:
                contact = crm.create_contact(address or None, first, language, last="",
                                             region=STORES[store])
                crm.close_new_ticket(contact, crm.queues[queue], now - timedelta(seconds=30),
                                     subject=subject, store=store)
                expected[contact] = {"region": STORES[store], "store": store}
            rt.poll()
            with rt.store.engine.connect() as conn:
                got = dict(conn.execute(select(SENDS.c.contact_id, SENDS.c.segments)).all())
        finally:
            rt.close()
    assert config.reporting.scope == ("region", "store")
    assert got == expected
