"""Visitors the store never met, looked up on the CRM by e-mail address.

The widget can only show a survey whose answer has a CRM record to go to. The store knows
everyone who was ever surveyed or is in an NPS list; anyone else is read from the program's
CRM (the adapter's `find_contacts_by_email`: HubSpot batch read by email, Zendesk user
search), once. Answers are remembered for `ttl`, unknown addresses too, so a visitor
browsing page after page costs the CRM at most one call per `ttl`; the memory is bounded
(oldest entries go first). A CRM failure is not remembered: the card waits for the next
page, and the failure is logged without the address.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store.widget import KnownContact
from closedloop.integration.errors import ClosedLoopError

ContactLookup = Callable[[str, str], KnownContact | None]  # (e-mail, source) -> contact
Finder = Callable[[Sequence[str]], Mapping[str, Any]]

log = get_logger(component="widget")


class CrmLookup:
    """`lookup(email, source)`: the contact as the source's CRM has it, or None."""

    def __init__(self, adapters: Mapping[str, object], *, ttl: timedelta = timedelta(hours=1),
                 size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._finders: dict[str, Finder] = {}
        for name, adapter in adapters.items():
            finder = getattr(adapter, "find_contacts_by_email", None)
            if callable(finder):
                self._finders[name] = finder
        self._ttl, self._size, self._clock = ttl.total_seconds(), size, clock
        self._seen: OrderedDict[tuple[str, str], tuple[float, KnownContact | None]] = (
            OrderedDict())
        self._lock = threading.Lock()

    def __call__(self, email: str, source: str) -> KnownContact | None:
        finder = self._finders.get(source)
        if finder is None:
            return None
        key = (source, email.strip().lower())
        now = self._clock()
        with self._lock:
            hit = self._seen.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        try:
            found = finder([key[1]]).get(key[1])
        except ClosedLoopError as exc:
            log.warning("widget.lookup_failed", source=source, error=type(exc).__name__)
            return None
        contact = None if found is None else KnownContact(
            str(found.id), found.first_name, found.language, found.timezone)
        with self._lock:
            self._seen[key] = (now, contact)
            self._seen.move_to_end(key)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return contact
