"""One daemon, a HubSpot and a Zendesk source at once: own cursors, own quota, one person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_loop import NO_WINDOWS, SECRET, TOKEN, Clock, HubSpotDriver, ZendeskDriver, free_port

from closedloop.daemon.config import parse_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.jobs.poll import CURSOR
from closedloop.daemon.runtime import Runtime, build_runtime


class Both:
    def __init__(self, rt: Runtime, hs: HubSpotDriver, zd: ZendeskDriver, sink: LocalMailSink,
                 clock: Clock) -> None:
        self.rt, self.hs, self.zd, self.sink, self.clock = rt, hs, zd, sink, clock
        self.setup_calls = {name: a.call_count() for name, a in rt.adapters.items()}


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Both]:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(start)
    with HubSpotDriver(start) as hs, ZendeskDriver(start) as zd, LocalMailSink(port=0) as sink:
        since = start - timedelta(minutes=10)
        program: dict[str, Any] = {"type": "csat", "delay": "1h", "company": "Acme"}
        config = parse_config({
            "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}",
                       "public_url": f"http://127.0.0.1:{free_port()}"},
            "sources": {"hubspot": hs.source(since), "zendesk": zd.source(since)},
            "mail": {"host": "127.0.0.1", "port": sink.port,
                     "from_address": "feedback@acme.example"},
            "rules": {"quiet_hours": [], "global_cooldown": "7d"},
            "coalescing": NO_WINDOWS,
            "programs": [{"name": "hubspot-csat", "source": "hubspot", **program},
                         {"name": "zendesk-csat", "source": "zendesk", **program}],
        })
        rt = build_runtime(config, Secrets(secret_key=SECRET, source_tokens={
            "hubspot": TOKEN, "zendesk": TOKEN}), clock=clock)
        rt.store.migrate()
        for name, mapping in rt.mappings.items():
            rt.adapters[name].ensure_properties(mapping.group_name, mapping.group_label,
                                                mapping.specs())
        hs.reset_calls()
        zd.reset_calls()
        try:
            yield Both(rt, hs, zd, sink, clock)
        finally:
            rt.close()


def close(driver: HubSpotDriver | ZendeskDriver, clock: Clock, email: str) -> str:
    contact = driver.create_contact(email)
    return driver.close_ticket(contact, driver.support, clock.now - timedelta(seconds=30))


def test_each_source_keeps_its_own_cursor_and_counts_its_own_calls(both: Both) -> None:
    close(both.hs, both.clock, "ann@example.com")
    close(both.zd, both.clock, "bea@example.com")
    polled = both.rt.poll()
    assert (polled["hubspot"].queued, polled["zendesk"].queued) == (1, 1)
    for name, driver in (("hubspot", both.hs), ("zendesk", both.zd)):  # own quota, counted
        assert both.rt.adapters[name].call_count() - both.setup_calls[name] == \
            driver.total_calls() > 0
    hs_cursor = both.rt.store.get_cursor("hubspot", CURSOR)
    zd_cursor = both.rt.store.get_cursor("zendesk", CURSOR)
    assert hs_cursor
    assert zd_cursor
    assert hs_cursor != zd_cursor

    close(both.zd, both.clock, "cem@example.com")  # only Zendesk has news
    again = both.rt.poll()
    assert (again["hubspot"].queued, again["zendesk"].queued) == (0, 1)
    assert both.rt.store.get_cursor("hubspot", CURSOR) == hs_cursor


def test_a_failing_source_does_not_hold_back_the_other(both: Both) -> None:
    """Zendesk answers 503 to everything: HubSpot's tickets are still polled and surveyed."""
    close(both.hs, both.clock, "dan@example.com")
    close(both.zd, both.clock, "eve@example.com")
    both.zd.fail_next(50, 503, "/api/v2/")
    polled = both.rt.poll()
    assert "zendesk" not in polled
    assert polled["hubspot"].queued == 1
    both.clock.advance(timedelta(hours=1))
    assert both.rt.dispatch().sent == 1
    assert [m["To"] for m in both.sink.messages] == ["dan@example.com"]


def test_one_person_in_both_crms_gets_one_survey_a_week(both: Both) -> None:
    """The global cooldown keys the person by normalized e-mail across CRMs."""
    close(both.hs, both.clock, "Fay@Example.com")
    close(both.zd, both.clock, "fay@example.com ")
    both.rt.poll()
    both.clock.advance(timedelta(hours=1))
    result = both.rt.dispatch()
    assert result.sent == 1
    assert dict(result.skipped) == {"global_cooldown": 1}
    assert len(both.sink.messages) == 1
