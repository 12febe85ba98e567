"""Three daemons on one PostgreSQL, a sandbox HubSpot having a bad day: each answer once.

CRM: 20 % 5xx, 10 % 429 (Retry-After 1 s), 5 % slow answers, and 5 % of note creates applied
then answered with a 504. Three runtimes (own pools, adapters, schedulers, web servers) share
one database; customers answer over HTTP through any of them. See replicas_harness.py; the
larger run is bench/faults.py.

SMTP cuts: set CLOSEDLOOP_FAULTS_SMTP_CUTS=0.1 to cut 10 % of the SMTP connections (half mid
DATA, half right after the end-of-data). Off by default: the "0 surveys lost to a cut
connection" figure needs the delivery fix (retry a message cut before end-of-data, count one
cut after it as sent), which is merged separately; with cuts on before that fix, this test
fails on that figure, as it should.
"""

from __future__ import annotations

import os

import pytest
from replicas_harness import FaultRun, run_faults

SMTP_CUTS = float(os.environ.get("CLOSEDLOOP_FAULTS_SMTP_CUTS", "0") or 0)


@pytest.mark.slow
@pytest.mark.postgres
def test_three_replicas_with_crm_faults_write_each_answer_once(pg_url: str) -> None:
    """0 duplicate mails, 0 duplicate notes, 1.0 contact writes per answer (and no identical
    re-write at all), 100 % of answers on the CRM with their exact score and comment."""
    figures = run_faults(pg_url, FaultRun(tickets=30, replicas=3, smtp_cuts=SMTP_CUTS))
    report = "\n".join(figures.lines())
    assert figures.drained, report
    assert figures.injected.get("5xx", 0) > 0, report
    assert figures.injected.get("429", 0) > 0, report
    assert figures.answers == figures.mailed, report
    assert (figures.duplicate_mails, figures.duplicate_notes) == (0, 0), report
    assert (figures.writes_per_answer, figures.identical_rewrites) == (1.0, 0), report
    assert figures.answers_on_crm == figures.answers, report
    assert figures.notes == figures.answered_tickets, report
    # Needs the delivery fix when SMTP cuts are on (see the module docstring).
    assert figures.lost_to_cuts == 0, report
