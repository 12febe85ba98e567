"""A people file streams: `send --csv` holds one batch of rows, never the file, so its
memory does not grow with the file (5 times the rows, about the same peak).

The people are known to the outbox (an earlier survey of another program), so the run
costs no CRM call and the figure is the send path's own: the file, the store's batch reads
and writes, the rules. Python's allocations are traced (tracemalloc); holding the file's
rows alone would take several times the bound.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from trigger_support import NOW

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.daemon.triggers.bulk import Outcome, SendRequest, send_people
from closedloop.daemon.triggers.people_csv import open_people, read_people
from closedloop.integration.hubspot import HubSpotAdapter

SMALL, LARGE = 4_000, 20_000
# Measured at 100,000 rows: 9.7 MB traced peak (500-row batches, the duplicate table ~2.4 MB,
# 24 bytes a person); the file's rows alone, parsed and held in a list: 42.5 MB (425 bytes a
# row), so holding 16,000 more rows would add ~6.8 MB where streaming adds ~0.4 MB.
GROWTH_MB = 2.0
PROGRAM = Program("onboarding", SurveyType.CSAT, "hubspot", timedelta(0), "Acme",
                  trigger="event", coalesce=timedelta(0))


def _people_file(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,language,time zone\n")
        for n in range(rows):
            out.write(f"person{n}@example.com,Person {n},en,Europe/Oslo\n")
    return path


def _known(store: Store, count: int) -> None:
    """One sent survey of another program per person: the intake finds them in the store."""
    def rows() -> Iterator[NewSend]:
        for n in range(count):
            yield NewSend(idem_key=f"old:{n}", program="old", survey_type="csat",
                          source="hubspot", contact_id=str(n + 1), due_at=NOW - timedelta(
                              days=90), created_at=NOW - timedelta(days=90),
                          email=f"person{n}@example.com", status="skipped",
                          skip_reason="expired")
    batch: list[NewSend] = []
    for row in rows():
        batch.append(row)
        if len(batch) == 5_000:
            store.add_sends(batch)
            batch = []
    store.add_sends(batch)


def _send_file(tmp_path: Path, hubspot: HubSpotAdapter, rows: int) -> float:
    """Queue a file of `rows` known people; the traced peak in MB (checks it all queued)."""
    store = Store(f"sqlite:///{tmp_path / f'state-{rows}.db'}")
    store.migrate()
    try:
        _known(store, rows)
        path = _people_file(tmp_path / f"everyone-{rows}.csv", rows)
        calls = hubspot.call_count()
        last: list[Outcome] = []

        def keep_last(outcome: Outcome) -> None:
            last[:] = [outcome]

        tracemalloc.start()
        try:
            with open_people(path) as handle:
                summary = send_people(store, {"hubspot": hubspot}, [PROGRAM],
                                      Policy(quiet_start=None, quiet_end=None),
                                      SendRequest(PROGRAM, "csv", "everyone"),
                                      read_people(handle), NOW, keep_last)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (summary.queued, summary.rejected, dict(summary.skipped)) == (rows, 0, {})
        assert last[0].line == rows + 1
        assert hubspot.call_count() == calls
        assert store.counts()["sends.pending"] == rows
        return peak / 1e6
    finally:
        store.dispose()


@pytest.mark.slow
def test_a_file_five_times_longer_needs_no_more_memory(tmp_path: Path,
                                                       hubspot: HubSpotAdapter) -> None:
    """4,000 then 20,000 rows queued, none read from the CRM; the traced peak grows by less
    than GROWTH_MB (holding the extra rows would take ~6.8 MB)."""
    small = _send_file(tmp_path, hubspot, SMALL)
    large = _send_file(tmp_path, hubspot, LARGE)
    print(f"traced peak: {SMALL} rows {small:.1f} MB, {LARGE} rows {large:.1f} MB")
    assert large - small < GROWTH_MB
