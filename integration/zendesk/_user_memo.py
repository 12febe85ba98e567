"""Users that came along with a ticket read, kept briefly so reading them costs no request.

The export page and the notified tickets' show_many ask for the `users` sideload: the
requesters (and assignees) of the tickets on the page, as full user records, in the same
response. The poll and the intake then ask `contacts()` for exactly those requesters, a
moment later in the same run. Each user is kept here until it is taken once, or for
MAX_AGE seconds, whichever comes first, and at most MAX_USERS at a time (oldest dropped):
a user read minutes ago is never served as fresh, and nothing grows without bound (zenpy's
own cache keeps users forever, which is why it is off).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final

MAX_AGE: Final = 60.0
MAX_USERS: Final = 5_000


class SideloadedUsers:
    """Raw user records by id, each served once while fresh."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._users: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, raws: Iterable[Any]) -> None:
        """Remember these raw users (a page's `users` sideload); expired ones go."""
        now = self._clock()
        with self._lock:
            while self._users and next(iter(self._users.values()))[0] < now - MAX_AGE:
                self._users.popitem(last=False)
            for raw in raws:
                if isinstance(raw, Mapping) and raw.get("id") is not None:
                    uid = str(raw["id"])
                    self._users.pop(uid, None)
                    self._users[uid] = (now, dict(raw))
            while len(self._users) > MAX_USERS:
                self._users.popitem(last=False)

    def take(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The fresh ones of `ids`, each removed as it is handed out."""
        oldest = self._clock() - MAX_AGE
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for uid in ids:
                kept = self._users.pop(uid, None)
                if kept is not None and kept[0] >= oldest:
                    out[uid] = kept[1]
        return out

    def keep_requesters(self, data: Mapping[str, Any], requesters: Collection[str]) -> None:
        """Of a page's `users` sideload (its raw JSON `data`), keep the `requesters`."""
        users = data.get("users")
        if isinstance(users, list) and requesters:
            self.keep(u for u in users
                      if isinstance(u, Mapping) and str(u.get("id")) in requesters)

    def __len__(self) -> int:
        with self._lock:
            return len(self._users)
