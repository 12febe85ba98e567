"""`setup` and `check --online` warn about segment properties the CRM does not define."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import write_config as one_source
from test_cli_zendesk import ENV, HS_TOKEN, ZD_TOKEN, write_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.store import NewSend, Store
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

SEGMENTS = """
[reporting.segments]
region = "contact.region"
store = { hubspot = "ticket.store", zendesk = "ticket.360001234" }
priority_level = { zendesk = "ticket.priority" }
bogus = { hubspot = "ticket.no_such_property", zendesk = "contact.no_such_field" }
"""
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandboxes() -> Iterator[tuple[HubSpotSandbox, ZendeskSandbox]]:
    with HubSpotSandbox(HubSpotState.seeded(tickets=3, contacts=3), token=HS_TOKEN) as hs, \
            ZendeskSandbox(ZendeskState.seeded(tickets=3), token=ZD_TOKEN) as zd:
        yield hs, zd


def _config(tmp_path: Path, hs: HubSpotSandbox, zd: ZendeskSandbox) -> str:
    path = Path(write_config(tmp_path, hs, zd))
    path.write_text(path.read_text(encoding="utf-8") + SEGMENTS, encoding="utf-8")
    return str(path)


def _warnings(output: str) -> list[str]:
    return sorted(line for line in output.splitlines() if line.startswith("warning:"))


def test_setup_and_check_warn_once_per_undefined_segment_property(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """The seeded region/store (and Zendesk's standard `priority`) exist; `bogus` names a
    property neither CRM has: one warning per source, and neither command fails for it."""
    hs, zd = sandboxes
    config = _config(tmp_path, hs, zd)
    runner = CliRunner()
    expected = [
        "warning: sources.hubspot: segment 'bogus' reads ticket property "
        "'no_such_property', which hubspot does not define: it will capture nothing",
        "warning: sources.zendesk: segment 'bogus' reads contact property "
        "'no_such_field', which zendesk does not define: it will capture nothing",
    ]

    setup = runner.invoke(app, ["setup", "--config", config], env=ENV)
    check = runner.invoke(app, ["check", "--online", "--config", config], env=ENV)

    assert (setup.exit_code, _warnings(setup.output)) == (0, expected), setup.output
    assert (check.exit_code, _warnings(check.output)) == (0, expected), check.output


def _answered(store: Store, key: str, segments: dict[str, str] | None) -> None:
    store.add_sends([NewSend(idem_key=key, program="support-csat", survey_type="csat",
                             source="hubspot", contact_id=f"c-{key}", due_at=T0,
                             created_at=T0, email=f"{key}@x.example", segments=segments)])
    [send] = store.claim_due_sends(T0, 1, timedelta(minutes=5))
    assert store.begin_sending(send.id, T0)
    store.mark_sent(send.id, T0, f"<{key}@x>")
    store.record_response(send.id, 5, "satisfied", T0)


def test_export_has_a_column_per_configured_segment(tmp_path: Path) -> None:
    """CSV: a `segment.NAME` column per configured segment, empty where the send has no
    value; JSON Lines: the captured object as it is (null when none)."""
    config = str(one_source(tmp_path, extra='[reporting.segments]\nregion = "contact.region"'
                                            '\nstore = "ticket.store"\n'))
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    _answered(store, "a", {"region": "north", "store": "oslo"})
    _answered(store, "b", None)
    store.dispose()
    runner = CliRunner()

    as_csv = runner.invoke(app, ["export", "--config", config], env=ENV)
    as_json = runner.invoke(app, ["export", "--format", "jsonl", "--config", config], env=ENV)

    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["contact_id"], r["segment.region"], r["segment.store"]) for r in rows] == [
        ("c-a", "north", "oslo"), ("c-b", "", "")]
    assert [json.loads(line)["segments"] for line in as_json.stdout.splitlines()] == [
        {"region": "north", "store": "oslo"}, None]
