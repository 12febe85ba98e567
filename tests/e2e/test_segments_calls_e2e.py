"""Capturing custom segments costs no CRM call: the sandboxes count every request.

Two identical seeded accounts per CRM (same seed, same instant), polled by the real daemon
from the same start: one with `[reporting.segments]` configured, one without. The requests
each sandbox saw, endpoint by endpoint, must be the same, and the segmented poll's sends
must carry the seeded regions and stores.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.store.sends import SENDS
from closedloop.integration.sandbox._seed import STORES
from closedloop.integration.sandbox.hubspot import HubSpotState
from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide
from closedloop.integration.sandbox.zendesk import ZendeskState

SECRET = "segments-secret-key-that-is-long-enough-0123"
NOW = datetime.now(UTC).replace(microsecond=0)
TICKETS = 450  # HubSpot: three search pages of 200, several contact reads of 100


def _side(crm: str) -> HubSpotSide | ZendeskSide:
    seeded_at = NOW - timedelta(hours=1)
    if crm == "hubspot":
        return HubSpotSide(HubSpotState.seeded(tickets=TICKETS, contacts=300, seed=5,
                                               now=seeded_at), rate_limit_per_10s=0)
    return ZendeskSide(ZendeskState.seeded(tickets=TICKETS, users=300, seed=5, now=seeded_at),
                       rate_limit_per_minute=0, incremental_per_minute=0)


def _poll(crm: str, state_dir: Path, segmented: bool) -> tuple[dict[str, int], list[Any]]:
    """(sandbox requests per endpoint, segments of every send) of one poll."""
    with _side(crm) as side:
        reporting = {"segments": side.segments()} if segmented else {}
        config = parse_config({
            "daemon": {"state_url": f"sqlite:///{state_dir / 'state.db'}",
                       "public_url": "http://127.0.0.1:9"},
            "sources": {crm: side.source(NOW - timedelta(days=40))},
            "mail": {"host": "127.0.0.1", "port": 9, "from_address": "f@acme.example"},
            "coalescing": {"answers": "0s", "writeback": "0s", "intake": "0s", "sends": "0s"},
            "programs": [
                {"name": "support-csat", "type": "csat", "source": crm, "delay": "1h",
                 "company": "Acme", "pipelines": [side.queues["support"]]},
                {"name": "billing-ces", "type": "ces", "source": crm, "delay": "1h",
                 "company": "Acme", "pipelines": [side.queues["billing"]]},
            ],
            "reporting": reporting,
        })
        rt = build_runtime(config, Secrets(secret_key=SECRET, source_tokens={crm: side.token}),
                           clock=lambda: NOW)
        try:
            rt.store.migrate()
            side.reset_calls()
            rt.poll()
            calls = side.calls_by_endpoint()
            with rt.store.engine.connect() as conn:
                segments = list(conn.scalars(select(SENDS.c.segments).order_by(SENDS.c.id)))
        finally:
            rt.close()
    return calls, segments


@pytest.mark.parametrize("crm", ["hubspot", "zendesk"])
def test_capturing_segments_costs_no_extra_crm_call(crm: str, tmp_path: Path) -> None:
    """Same requests, endpoint by endpoint, with and without segments; the segmented sends
    carry regions and stores that agree with the seed (a store lies in its region when
    the person has one)."""
    (tmp_path / "plain").mkdir()
    (tmp_path / "segmented").mkdir()
    plain_calls, plain = _poll(crm, tmp_path / "plain", segmented=False)
    calls, segments = _poll(crm, tmp_path / "segmented", segmented=True)

    assert calls == plain_calls
    assert (len(segments), set(map(str, plain))) == (len(plain), {"None"})
    captured = [s for s in segments if s]
    stores = [s["store"] for s in captured if "store" in s]
    regions = [s["region"] for s in captured if "region" in s]
    assert (len(stores) > len(segments) // 2, len(regions) > len(segments) // 2) == (True, True)
    assert set(stores) <= set(STORES)
    placed = [s for s in captured if "store" in s and "region" in s]
    assert [STORES[s["store"]] for s in placed] == [s["region"] for s in placed]
    print(f"\n{crm}: {sum(calls.values())} requests for {len(segments)} sends, "
          f"with or without segments: {dict(sorted(calls.items()))}")
