""""Undo" on the page after an unsubscribe choice, over real HTTP: what held before the
choice holds again (and reaches the CRM), and a suppression the person never chose (a
bounce) is never lifted."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from test_web_unsubscribe import preference_rows, suppression
from web_support import NOW, AddSend, heading

from closedloop.daemon.store import Store
from closedloop.daemon.web.tokens import Purpose, TokenSigner

SNOOZE_END = NOW + timedelta(days=182)


def undo_value(page: httpx.Response) -> str:
    match = re.search(r'<input type="hidden" name="previous" value="([^"]*)">', page.text)
    assert match is not None, page.text
    return match.group(1)


def test_undo_after_never_again_restores_nothing_chosen_and_tells_the_crm(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Never again, then Undo in the same visit: no suppression, the CRM hears "unsubscribed"
    then "subscribed" again, and the page offers to change the choice once more."""
    token = signer.make(add_send(email="ana@example.test"), purpose=Purpose.UNSUBSCRIBE)
    chosen = client.post(f"/u/{token}", data={"choice": "unsubscribe"})
    assert '<button type="submit" name="choice" value="undo" class="secondary">Undo</button>' in (
        chosen.text)
    assert undo_value(chosen) == "none"
    page = client.post(f"/u/{token}", data={"choice": "undo", "previous": undo_value(chosen)})
    assert (page.status_code, heading(page)) == (200, "Choice undone")
    assert "You may receive surveys from Acme again." in page.text
    assert f'<a href="../u/{token}">Change your choice</a>' in page.text
    assert suppression(store, "ana@example.test") is None
    assert [(d["unsubscribed"], d["snoozed_until"]) for *_, d in preference_rows(store)] == [
        (True, None), (False, None)]


def test_undo_puts_an_earlier_snooze_back(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """Snoozed earlier, then never again, then Undo: the snooze holds again, to its date."""
    token = signer.make(add_send(email="ana@example.test"), purpose=Purpose.UNSUBSCRIBE)
    client.post(f"/u/{token}", data={"choice": "snooze"})
    chosen = client.post(f"/u/{token}", data={"choice": "unsubscribe"})
    assert undo_value(chosen) == f"until:{SNOOZE_END.isoformat()}"
    page = client.post(f"/u/{token}", data={"choice": "undo", "previous": undo_value(chosen)})
    assert "You will not receive surveys from Acme until August 31, 2026." in page.text
    assert suppression(store, "ana@example.test") == ("snoozed", SNOOZE_END)
    assert [d["unsubscribed"] for *_, d in preference_rows(store)] == [False, True, False]


def test_undo_never_lifts_a_bounce(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """An address the relay refused for good stays suppressed whatever the form says."""
    token = signer.make(add_send(email="ana@example.test"), purpose=Purpose.UNSUBSCRIBE)
    store.suppress("ana@example.test", "bounced", NOW)
    page = client.post(f"/u/{token}", data={"choice": "undo", "previous": "none"})
    assert page.status_code == 200
    assert suppression(store, "ana@example.test") == ("bounced", None)
    assert preference_rows(store) == []


def test_undo_with_a_garbled_previous_changes_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A "previous" that is not one of the encoded states shows the choice again (400)."""
    token = signer.make(add_send(email="ana@example.test"), purpose=Purpose.UNSUBSCRIBE)
    client.post(f"/u/{token}", data={"choice": "unsubscribe"})
    for previous in ("", "until:yesterday", "everything"):
        page = client.post(f"/u/{token}", data={"choice": "undo", "previous": previous})
        assert page.status_code == 400
    assert suppression(store, "ana@example.test") == ("unsubscribed", None)
