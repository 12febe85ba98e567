"""Both CRMs give the contact's number in the contact reads the daemon already makes:
HubSpot `mobilephone` (else `phone`), Zendesk user `phone`; the seeded sandboxes have some."""

from __future__ import annotations

from closedloop.daemon.channels.phones import InvalidPhone, to_e164
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter


def test_hubspot_mobile_first_then_phone(adapter: HubSpotAdapter, state: HubSpotState,
                                         sandbox: HubSpotSandbox) -> None:
    """One batch read (no extra call) carries the number: the mobile one when both exist."""
    both = state.create_contact("a@x.example", "A", "B", phone="+1 415 555 0101",
                                mobilephone="+1 415 555 0102")
    landline = state.create_contact("b@x.example", "B", "C", phone="+1 415 555 0103")
    none = state.create_contact("c@x.example", "C", "D")
    sandbox.reset_calls()
    found = adapter.contacts([both, landline, none])
    assert [found[c].phone for c in (both, landline, none)] == [
        "+1 415 555 0102", "+1 415 555 0103", None]
    assert sandbox.total_calls() == 1


def test_zendesk_user_phone(zd_adapter: ZendeskAdapter, zd_state: ZendeskState) -> None:
    """The user's `phone` as Zendesk returns it."""
    user = zd_state.create_user("a@x.example", "Ada Doe", phone="+47 912 34 567")
    bare = zd_state.create_user("b@x.example", "Bob Doe")
    found = zd_adapter.contacts([user, bare])
    assert (found[user].phone, found[bare].phone) == ("+47 912 34 567", None)


def test_seeded_sandboxes_hold_numbers() -> None:
    """Two people in three have a number in each seeded sandbox; every one of them reads
    as E.164 in its own country (the seed types them nationally or internationally)."""
    regions = {"en": "US", "fr": "FR", "nb": "NO", "de": "DE", "es": "ES"}
    hubspot = HubSpotState.seeded(tickets=0, contacts=30, seed=3)
    numbers = [(c.props["hs_language"], c.props.get("mobilephone"))
               for c in hubspot.contacts.values()]
    zendesk = ZendeskState.seeded(tickets=0, users=30, seed=3)
    numbers += [(u.locale, u.phone) for u in zendesk.users.values() if u.role == "end-user"]
    with_phone = [(lang, p) for lang, p in numbers if p]
    assert 0.5 < len(with_phone) / len(numbers) < 0.9
    for lang, phone in with_phone:
        try:
            to_e164(phone, regions[lang[:2]])
        except InvalidPhone as exc:  # pragma: no cover - the message names the number
            raise AssertionError(f"{phone!r} ({lang}) is not a number: {exc}") from None
