"""The unsubscribe page's "Undo": the preference before a choice, carried in the form.

The confirmation page after "never again" or "not for a while" holds the preference that was
in force before, as a hidden field; "Undo" posts it back and the store puts it back. It needs
no signature: every value it can hold is one the link's owner may choose anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime

from closedloop.daemon.store.preferences import Preference


def decode_previous(raw: str) -> Preference | None:
    """The hidden "previous" field of an undo form: "none", "unsubscribed" or "until:<ISO>".
    Unsigned on purpose: each value is one the link's owner may choose anyway."""
    if raw == "none":
        return Preference(unsubscribed=False, snoozed_until=None)
    if raw == "unsubscribed":
        return Preference(unsubscribed=True, snoozed_until=None)
    if raw.startswith("until:"):
        try:
            until = datetime.fromisoformat(raw.removeprefix("until:"))
        except ValueError:
            return None
        return Preference(unsubscribed=False, snoozed_until=until if until.tzinfo else
                          until.replace(tzinfo=UTC))
    return None


def encode_previous(preference: Preference) -> str:
    if preference.unsubscribed:
        return "unsubscribed"
    if preference.snoozed_until is not None:
        until = preference.snoozed_until
        return f"until:{(until if until.tzinfo else until.replace(tzinfo=UTC)).isoformat()}"
    return "none"
