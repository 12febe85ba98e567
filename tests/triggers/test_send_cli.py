"""`closedloop send` from the command line against each sandbox CRM, real SMTP and SQLite:
a manual send is mailed and answered; a CSV's bad rows are reported by line and the rest
queued; --plan writes nothing; a rerun queues nothing; cooldowns and suppressions skip."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from send_world import ENV, World, world
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from closedloop.daemon.cli import app
from closedloop.daemon.service import BackgroundService
from closedloop.daemon.store.sends import SENDS

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")


@pytest.fixture(params=["hubspot", "zendesk"])
def w(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world(str(request.param), tmp_path)


def _rows(w: World) -> list[tuple[str | None, str, str | None, str | None]]:
    """(email, status, skip reason, trigger) of every outbox row, by address."""
    store = w.store()
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(SENDS.c.email, SENDS.c.status, SENDS.c.skip_reason,
                                       SENDS.c.trigger).order_by(SENDS.c.email, SENDS.c.id))
            return [(r.email, r.status, r.skip_reason, r.trigger) for r in rows]
    finally:
        store.dispose()


def _errors(result: Result) -> list[str]:
    """stderr without the JSON log lines (log_format = "json")."""
    return [line for line in result.stderr.splitlines() if not line.startswith("{")]


def _count(w: World) -> int:
    store = w.store()
    try:
        with store.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(SENDS)) or 0)
    finally:
        store.dispose()


def test_manual_send_is_mailed_and_the_answer_reaches_the_crm(w: World) -> None:
    """`send --email` queues one row (trigger "manual"); dispatch mails it in the language
    given; a click records the score; the write-back puts it on the CRM contact."""
    w.setup()
    contact = w.person("ada@example.com", "Ada")
    result = w.send("--email", "ada@example.com", "--language", "fr")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "queued 1, skipped 0, rejected 0"
    assert _rows(w) == [("ada@example.com", "pending", None, "manual")]

    rt = w.runtime()
    web = BackgroundService(rt, port=w.web_port)
    web.start(jobs=False)
    try:
        assert rt.dispatch().sent == 1
        (mail,) = w.sink.received
        assert tuple(mail.rcpt_tos) == ("ada@example.com",)
        assert mail.message["Subject"] == "Ada, qu’avez-vous pensé de notre aide\xa0?"
        body = mail.message.get_body(("plain",))
        assert body is not None
        links = {int(score): url for url, score in LINK.findall(body.get_content())}
        with httpx.Client(follow_redirects=True, timeout=10) as client:
            assert client.post(links[4]).status_code == 200
        answer = rt.store.get_response(1)
        assert answer is not None
        assert answer.score == 4
        rt.write_back()
    finally:
        web.stop()
        rt.close()
    assert str(w.side.values(contact)["cl_csat_last_rating"]) == "4"


CSV = ("email;name;language;time zone;region\n"
       "ada@example.com;Ada;en;Europe/Oslo;north\n"
       "not-an-address;X;;;\n"
       "bo@example.com;Bo;klingon;;\n"
       "cy@example.com;Cy;;Mars/Base;\n"
       "dee@example.com;Dee;en\n"
       "nobody@example.com;No;;;\n"
       "ADA@example.com;Ada again;;;\n"
       "eve@example.com;Eve;fr;;south\n")


def _people(w: World) -> None:
    for email in ("ada@example.com", "bo@example.com", "cy@example.com", "dee@example.com",
                  "eve@example.com"):
        w.person(email, email.split("@")[0].title())


def test_csv_bad_rows_are_reported_by_line_and_the_rest_are_queued(w: World,
                                                                   tmp_path: Path) -> None:
    """Four malformed rows: each on stderr with its line; the unknown address and the
    duplicate are skipped with their reasons; two rows queued; exit code 1."""
    _people(w)
    path = tmp_path / "spring.csv"
    path.write_text(CSV, encoding="utf-8")
    result = w.send("--csv", str(path))
    assert result.exit_code == 1, result.output
    assert _errors(result)[:2] == [
        "line 3: rejected: not an e-mail address: 'not-an-address'",
        "line 4: rejected: unknown language 'klingon' (available: de, en, es, fr, nb)"]
    assert _errors(result)[2:] == [
        "line 5: rejected: unknown time zone 'Mars/Base' (expected an IANA name such as "
        "Europe/Oslo)",
        "line 6: rejected: expected 5 values, found 3 (separated by ';')"]
    assert result.stdout.splitlines() == [
        "line 7: skipped (contact_not_found): nobody@example.com",
        "line 8: skipped (duplicate): ADA@example.com (as line 2)",
        "queued 2, skipped 2 (contact_not_found 1, duplicate 1), rejected 4",
        "batch 'spring': one survey per program, batch and person; run it again and only "
        "new people are queued (--batch NAME sends the same people again, the rules "
        "permitting)"]
    assert _rows(w) == [("ada@example.com", "pending", None, "csv"),
            ("eve@example.com", "pending", None, "csv")]
    store = w.store()
    try:
        sends = store.due_sends_until(datetime(2100, 1, 1, tzinfo=UTC))
    finally:
        store.dispose()
    crm_zone = "UTC" if w.crm == "zendesk" else None  # the CRM's, as no column gave one
    assert sorted((s.email, s.language, s.timezone, (s.segments or {}).get("region"))
                  for s in sends) == [("ada@example.com", "en", "Europe/Oslo", "north"),
                                      ("eve@example.com", "fr", crm_zone, "south")]


def test_plan_writes_nothing_and_says_what_would_happen_to_each(w: World,
                                                                tmp_path: Path) -> None:
    """--plan prints one line per person (would queue / would skip / rejected) and the
    outbox has as many rows after as before."""
    _people(w)
    path = tmp_path / "spring.csv"
    path.write_text(CSV, encoding="utf-8")
    before = _count(w)
    result = w.send("--csv", str(path), "--plan")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" (due ")[0] for line in lines[:4]] == [
        "line 2: would queue: ada@example.com",
        "line 7: would skip (contact_not_found): nobody@example.com",
        "line 8: would skip (duplicate): ADA@example.com (as line 2)",
        "line 9: would queue: eve@example.com"]
    assert lines[4] == ("would queue 2, would skip 2 (contact_not_found 1, duplicate 1), "
                        "rejected 4 (plan: nothing was written)")
    assert before == _count(w) == 0


def test_the_same_csv_run_twice_queues_nothing_new(w: World, tmp_path: Path) -> None:
    """The key is program + batch (the file's name) + address: the second run finds every
    person already queued; a corrected row run again is queued alone."""
    _people(w)
    path = tmp_path / "spring.csv"
    path.write_text(CSV, encoding="utf-8")
    assert w.send("--csv", str(path)).exit_code == 1
    again = w.send("--csv", str(path))
    assert again.exit_code == 1
    assert again.stdout.splitlines()[-2] == (
        "queued 0, skipped 4 (already_queued 2, contact_not_found 1, duplicate 1), "
        "rejected 4")
    path.write_text(CSV.replace("bo@example.com;Bo;klingon", "bo@example.com;Bo;de"),
                    encoding="utf-8")
    fixed = w.send("--csv", str(path))
    assert fixed.stdout.splitlines()[-2] == (
        "queued 1, skipped 4 (already_queued 2, contact_not_found 1, duplicate 1), "
        "rejected 3")
    assert _count(w) == 3


def test_a_person_in_cooldown_is_skipped_with_the_reason(w: World, tmp_path: Path) -> None:
    """Ada was surveyed by this program (30-day cooldown) a moment ago: a list sent now
    skips her "program_cooldown" (stored, so status counts it) and queues Eve."""
    w.person("ada@example.com")
    w.person("eve@example.com", "Eve")
    assert w.send("--email", "ada@example.com").exit_code == 0
    rt = w.runtime()
    try:
        assert rt.dispatch().sent == 1
    finally:
        rt.close()
    path = tmp_path / "later.csv"
    path.write_text("email\nada@example.com\neve@example.com\n", encoding="utf-8")
    result = w.send("--csv", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "line 2: skipped (program_cooldown): ada@example.com",
        "queued 1, skipped 1 (program_cooldown 1), rejected 0"]
    assert sorted(_rows(w), key=str) == [("ada@example.com", "sent", None, "manual"),
            ("ada@example.com", "skipped", "program_cooldown", "csv"),
            ("eve@example.com", "pending", None, "csv")]


def test_a_suppressed_person_is_skipped_and_a_manual_send_reports_it(w: World) -> None:
    """An unsubscribed address is never queued: the row is stored skipped "suppressed"."""
    w.person("ada@example.com")
    store = w.store()
    try:
        store.suppress("ada@example.com", "unsubscribed", datetime.now(UTC))
    finally:
        store.dispose()
    result = w.send("--email", "ada@example.com", "--plan")
    assert result.stdout.splitlines()[0] == "would skip (suppressed): ada@example.com"
    assert _count(w) == 0
    result = w.send("--email", "ada@example.com")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["skipped (suppressed): ada@example.com",
                                              "queued 0, skipped 1 (suppressed 1), rejected 0"]
    assert _rows(w) == [("ada@example.com", "skipped", "suppressed", "manual")]


@pytest.mark.parametrize(("args", "message"), [
    ((), "error: give either --email or --csv"),
    (("--email", "a@example.com", "--csv", "x.csv"), "error: give either --email or --csv"),
    (("--email", "not-an-address"), "error: --email: not an e-mail address: 'not-an-address'"),
    (("--email", "a@example.com", "--language", "tlh"),
     "error: --email: unknown language 'tlh' (available: de, en, es, fr, nb)"),
    (("--email", "a@example.com", "--ticket", "T-1"),
     "error: --ticket: expected the CRM's ticket id (digits)"),
    (("--email", "a@example.com", "--batch", "no spaces"),
     "error: --batch: letters, digits, '.', '_' or '-', 40 at most"),
])
def test_usage_mistakes_are_one_line_and_exit_2(w: World, args: tuple[str, ...],
                                                message: str) -> None:
    """Each mistake in the command: its own message, exit code 2, nothing written."""
    result = w.send(*args)
    assert (result.exit_code, _errors(result)) == (2, [message])
    assert _count(w) == 0


def test_an_unknown_program_and_a_bad_header_are_usage_errors(w: World,
                                                              tmp_path: Path) -> None:
    """The program list and the header's problem are named; exit 2; nothing written."""
    result = CliRunner().invoke(app, ["send", "--program", "nps", "--email", "a@example.com",
                                      "--config", str(w.config)], env=ENV)
    assert (result.exit_code, _errors(result)) == (
        2, ["error: --program: no program 'nps' is configured; expected one of: "
            "onboarding, support"])
    path = tmp_path / "people.csv"
    path.write_text("mail;name\na@example.com;A\n", encoding="utf-8")
    result = w.send("--csv", str(path))
    assert (result.exit_code, _errors(result)) == (
        2, ["error: line 1: the header has no 'email' column (found: 'mail;name'; values "
            "are separated by ',' or ';')"])
    assert _count(w) == 0


def test_a_manual_send_about_a_ticket_and_the_poll_make_one_survey(w: World) -> None:
    """`--ticket` on a ticket-fed program takes the poll's key: the poll that then reads the
    closed ticket queues nothing more, and a second manual send is "already_queued"."""
    contact = w.person("ada@example.com")
    ticket = w.side.close_new_ticket(contact, w.side.queues["support"],
                                     datetime.now(UTC) - timedelta(minutes=1))
    result = w.send("--email", "ada@example.com", "--ticket", ticket, program="support")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "queued 1, skipped 0, rejected 0"
    rt = w.runtime()
    try:
        polled = rt.poll()[w.crm]
        keys = [r.idem_key for r in rt.store.due_sends_until(datetime.now(UTC))]
    finally:
        rt.close()
    assert (polled.tickets, polled.queued) == (1, 0)
    assert keys == [f"support:{w.crm}:ticket:{ticket}"]
    again = w.send("--email", "ada@example.com", "--ticket", ticket, program="support")
    assert again.stdout.splitlines()[0] == "skipped (already_queued): ada@example.com"
