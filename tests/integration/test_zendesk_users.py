"""Zendesk user → Contact rules, and the process-wide zenpy override (no HTTP)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import available_timezones

import pytest

from closedloop.integration.errors import ConfigError
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._transport import NETLOC_ENV, SCHEME_ENV
from closedloop.integration.zendesk._users import RAILS_ZONES, language_of, split_name, to_contact


@pytest.mark.parametrize(("locale", "language"), [
    ("fr-FR", "fr"), ("en-US", "en"), ("nb", "nb"), ("no", "nb"), ("pt-br", "pt"),
    ("de", "de"), ("zh_TW", "zh"), ("", None), (None, None)])
def test_language_from_locale(locale: str | None, language: str | None) -> None:
    assert language_of(locale) == language


def test_every_rails_zone_maps_to_a_real_iana_zone() -> None:
    """A typo in the table would hand the scheduler a zone zoneinfo cannot load."""
    assert sorted(set(RAILS_ZONES.values()) - available_timezones()) == []


def test_contact_fields_from_a_user() -> None:
    """IANA zone preferred; Rails name translated; unknown zone → None; name split once."""
    user = {"id": 9, "email": "ada@x.example", "name": "Ada Lovelace King", "locale": "fr-FR",
            "iana_time_zone": "Europe/Paris", "time_zone": "Paris", "organization_id": 4,
            "created_at": "2024-02-03T04:05:06Z"}
    contact = to_contact(user)
    assert (contact.id, contact.email, contact.first_name, contact.last_name) == (
        "9", "ada@x.example", "Ada", "Lovelace King")
    assert (contact.language, contact.timezone, contact.organization_id) == ("fr", "Europe/Paris",
                                                                             "4")
    assert contact.customer_since == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    rails = to_contact({"id": 1, "time_zone": "Eastern Time (US & Canada)"})
    assert rails.timezone == "America/New_York"
    assert to_contact({"id": 2, "time_zone": "Nuku'alofa"}).timezone is None
    assert (rails.email, rails.first_name) == (None, None)
    assert split_name("Cher") == ("Cher", None)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NETLOC_ENV, raising=False)
    monkeypatch.delenv(SCHEME_ENV, raising=False)


def _adapter(base_url: str | None, name: str = "zendesk") -> ZendeskAdapter:
    return ZendeskAdapter(name, subdomain="acme", email="a@acme.example", token="t",
                          base_url=base_url)


@pytest.mark.usefixtures("clean_env")
def test_override_is_shared_refused_for_another_server_and_released() -> None:
    """Two adapters on one sandbox share the override; a different server, or the real
    Zendesk, is refused while it is set; closing the last adapter removes it."""
    first = _adapter("http://127.0.0.1:8123")
    second = _adapter("http://127.0.0.1:8123/", name="zendesk2")
    assert (os.environ[SCHEME_ENV], os.environ[NETLOC_ENV]) == ("http", "127.0.0.1:8123")
    with pytest.raises(ConfigError, match=r"already pointed at http://127\.0\.0\.1:8123"):
        _adapter("http://127.0.0.1:9999", name="other")
    with pytest.raises(ConfigError, match=r"https://acme\.zendesk\.com cannot run beside it"):
        _adapter(None, name="real")
    first.close()
    assert os.environ[NETLOC_ENV] == "127.0.0.1:8123"
    second.close()
    assert NETLOC_ENV not in os.environ
    _adapter(None, name="real").close()  # no override needed, none set


@pytest.mark.usefixtures("clean_env")
def test_override_set_outside_is_honoured_not_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEME_ENV, "http")
    monkeypatch.setenv(NETLOC_ENV, "127.0.0.1:7000")
    _adapter("http://127.0.0.1:7000").close()
    assert os.environ[NETLOC_ENV] == "127.0.0.1:7000"


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"base_url": "ftp://x"}, "is not an http(s) URL"),
    ({"base_url": "http://127.0.0.1:1/api/v2"}, "must not have a path"),
    ({"token": " "}, "token is required"),
    ({"page_size": 5000}, "page_size must be 1..1000"),
])
def test_bad_settings_are_config_errors(kwargs: dict[str, object], problem: str) -> None:
    settings: dict[str, object] = {"subdomain": "acme", "email": "a@acme.example", "token": "t"}
    settings.update(kwargs)
    with pytest.raises(ConfigError) as caught:
        ZendeskAdapter("zendesk", **settings)  # type: ignore[arg-type]
    assert problem in str(caught.value)
