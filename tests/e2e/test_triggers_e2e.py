"""Survey triggers end to end, for each CRM: the CRM's own automation POSTs a signed webhook
to the daemon's real web app, a survey is queued for an event program (no ticket poll feeds
it), mailed to the local SMTP sink, answered by a click, and written back to the contact.

HubSpot: a workflow's "Send a webhook" action (the sandbox's workflows, customised body).
Zendesk: the webhook and trigger `closedloop setup --zendesk-trigger` creates through the
API, fired by a ticket solved with the tag closedloop_<program>; the signing secret is read
back through the API as setup does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from e2e_loop import E2E_START, SECRET, Clock, Loop, free_port, loop_config, make_driver
from sqlalchemy import text

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.service import BackgroundService
from closedloop.daemon.triggers import Person, Trigger, UnknownPerson
from closedloop.daemon.triggers.sandbox import aim
from closedloop.daemon.triggers.sandbox import fire as sandbox_fire

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")


@pytest.fixture
def loop(tmp_path: Path, crm_name: str) -> Iterator[Loop]:
    """A loop whose source takes survey triggers, with one event program "onboarding"."""
    with time_machine.travel(E2E_START, tick=True):
        start = datetime.now(UTC).replace(microsecond=0)
        clock = Clock(start)
        with make_driver(crm_name, start) as crm, LocalMailSink(port=0) as sink:
            port = free_port()
            config = loop_config(tmp_path, crm, sink.port, port, start - timedelta(minutes=10),
                                 programs=[{"name": "onboarding", "type": "ces",
                                            "source": crm.crm, "delay": "30m",
                                            "company": "Acme", "trigger": "event"}])
            source = config.sources[crm.crm].model_copy(update={"triggers": True})
            config = config.model_copy(update={"sources": {crm.crm: source}})
            secret = aim(crm, "onboarding", f"http://127.0.0.1:{port}/hooks/{crm.crm}")
            secrets = Secrets(secret_key=SECRET, source_tokens={crm.crm: crm.secrets()},
                              source_hook_secrets={crm.crm: secret})
            rt = build_runtime(config, secrets, clock=clock)
            rt.store.migrate()
            for name, mapping in rt.mappings.items():
                rt.adapters[name].ensure_properties(mapping.group_name, mapping.group_label,
                                                    mapping.specs())
            web = BackgroundService(rt, port=port)
            web.start(jobs=False)
            try:
                yield Loop(crm, sink, rt, clock, config)
            finally:
                web.stop()
                rt.close()


def fire(loop: Loop, contact: str) -> None:
    """The CRM-side event (daemon/triggers/sandbox.py), at the jobs' clock."""
    assert sandbox_fire(loop.crm, "onboarding", contact, at=loop.clock.now)


def rows(loop: Loop) -> list[tuple[str, str, str]]:
    with loop.rt.store.engine.connect() as conn:
        found = conn.execute(text("SELECT contact_id, trigger, status FROM sends "
                                  "WHERE program = 'onboarding'"))
        return [(str(r[0]), str(r[1]), str(r[2])) for r in found]


def test_crm_automation_brings_a_survey_that_is_answered_and_written_back(loop: Loop) -> None:
    """Event → signed webhook → one queued row (trigger kind stored) → after the delay one
    mail → a click → the CES answer on the contact; the CRM's delivery was answered 202."""
    contact = loop.crm.create_contact("onboard@example.com", "Olu")
    fire(loop, contact)
    kind = "hubspot_workflow" if loop.source == "hubspot" else "zendesk_trigger"
    assert rows(loop) == [(contact, kind, "pending")]
    sandbox = getattr(loop.crm, "sandbox")
    notifier = sandbox.workflows.notifier if loop.source == "hubspot" \
        else sandbox.automation.notifier
    assert [d.status for d in notifier.sent()] == [202]

    assert loop.rt.poll()[loop.source].queued == 0  # the poll never feeds an event program
    assert loop.rt.dispatch().sent == 0  # not due before the program's delay
    loop.clock.advance(timedelta(minutes=30))
    assert loop.rt.dispatch().sent == 1
    assert len(loop.sink.messages) == 1
    body = loop.sink.messages[0].get_body(("plain",))
    assert body is not None
    links = {int(score): url for url, score in LINK.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        assert web.post(links[6]).status_code == 200
    assert loop.rt.write_back()[loop.source].contacts == 1
    assert loop.props(contact)["cl_ces_last_rating"] == "6"


def test_a_crm_retry_of_the_same_event_queues_nothing(loop: Loop) -> None:
    """The CRM resends the delivery (HubSpot: same body; Zendesk: same invocation): the
    second answer is 'duplicate' and the outbox holds one row."""
    contact = loop.crm.create_contact("again@example.com", "Ana")
    fire(loop, contact)
    sandbox = getattr(loop.crm, "sandbox")
    notifier = sandbox.workflows.notifier if loop.source == "hubspot" \
        else sandbox.automation.notifier
    first = notifier.sent()[0]
    url, events = first.url, first.events
    if loop.source == "hubspot":
        payload, headers = sandbox.workflows.workflow(1).build(events)
    else:
        hook = next(iter(sandbox.automation.webhooks))
        payload, headers = sandbox.automation.signer(hook, "00000001")(events)
    answer = httpx.post(url, content=payload, headers={"Content-Type": "application/json",
                                                       **headers})
    assert (answer.status_code, answer.json()["status"]) == (202, "duplicate")
    assert len(rows(loop)) == 1


def test_triggered_surveys_share_the_ledger_and_the_suppressions(loop: Loop) -> None:
    """One person, one ledger: a second event a day later for someone this program surveyed
    is skipped at dispatch (program cooldown), and an unsubscribed person's is skipped
    'suppressed'; no second mail."""
    program = loop.rt.programs["onboarding"]
    loop.rt.programs["onboarding"] = type(program)(**{**program.__dict__,
                                                      "cooldown": timedelta(days=30)})
    contact = loop.crm.create_contact("twice@example.com", "Tia")
    gone = loop.crm.create_contact("gone@example.com", "Gus")
    loop.rt.store.suppress("gone@example.com", "unsubscribed", loop.clock.now)
    fire(loop, contact)
    fire(loop, gone)
    loop.clock.advance(timedelta(minutes=30))
    assert loop.rt.dispatch().sent == 1
    loop.clock.advance(timedelta(hours=25))  # past `coalesce`: a new event, not the same burst
    sandbox = getattr(loop.crm, "sandbox")
    if loop.source == "hubspot":  # the workflow enrolls the person again: a new event
        sandbox.workflows.add(sandbox.workflows.workflow(1).url,
                              body={"program": "onboarding", "contact_id": "{{contact.id}}",
                                    "event_id": "second-{{contact.id}}"})
    fire(loop, contact)
    loop.clock.advance(timedelta(minutes=30))
    loop.rt.dispatch()
    with loop.rt.store.engine.connect() as conn:
        found = conn.execute(text("SELECT email_norm, status, skip_reason FROM sends "
                                  "WHERE program = 'onboarding' ORDER BY id"))
        outcome = [tuple(r) for r in found]
    assert outcome == [("twice@example.com", "sent", None),
                       ("gone@example.com", "skipped", "suppressed"),
                       ("twice@example.com", "skipped", "program_cooldown")]
    assert len(loop.sink.messages) == 1


def test_runtime_trigger_plans_then_queues_like_the_send_cli(loop: Loop) -> None:
    """Runtime.trigger_many (what `closedloop send --csv` calls): --plan writes nothing,
    the real run queues each row once; an unknown person is that row's error."""
    loop.crm.create_contact("csv1@example.com", "Cleo")
    batch = [Trigger("onboarding", Person(email="csv1@example.com"), "csv"),
             Trigger("onboarding", Person(email="nobody@example.com"), "csv")]
    planned = loop.rt.trigger_many(batch, dry_run=True)
    assert rows(loop) == []
    done = loop.rt.trigger_many(batch)
    shapes = [(getattr(o, "status", None), type(o).__name__) for o in (*planned, *done)]
    assert shapes == [("queued", "Queued"), (None, UnknownPerson.__name__)] * 2
    assert [r[1] for r in rows(loop)] == ["csv"]


@pytest.mark.parametrize("crm", ["hubspot", "zendesk"])
def test_demo_channels_shows_a_webhook_triggered_survey_answered(crm: str) -> None:
    """`closedloop demo --channels`: the sandbox CRM's automation (a HubSpot workflow, the
    Zendesk trigger setup creates) asks for one survey; it is mailed, answered, written back
    with the others."""
    run = subprocess.run([sys.executable, "-m", "closedloop.daemon", "demo", "--channels",
                          "--json", "--crm", crm],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert (report["triggered_surveys"], report["triggered_answers"]) == (1, 1)
    assert report["answers"] == report["answers_recorded"]
    assert report["records_updated"] == report["surveys_sent"] == 12  # 11 tickets + 1 event
