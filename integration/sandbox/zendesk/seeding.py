"""Fill a `ZendeskState` with a realistic, reproducible account.

Ticket histories are generated first and replayed in time order, so ticket ids grow with
creation time and the incremental export's change order matches `updated_at` order, as in
a real account.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import _seed
from . import seed as data
from .values import now as clock
from .values import utc

if TYPE_CHECKING:
    from .state import ZendeskState

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
FORCED = ("solved", "closed", "open")
"""The first tickets' fates, so even a tiny account has one of each."""


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def populate(state: ZendeskState, *, tickets: int, users: int | None, seed: int,
             now: datetime | None) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not secrets
    now_ = utc(now) if now is not None else clock()
    founded = now_ - 900 * DAY
    for spec in data.USER_FIELDS:
        state.create_user_field(spec, at=founded)
    state.create_ticket_field(data.STORE_FIELD_ID, "Store", data.STORE_OPTIONS)
    # Regions and stores come from a stream of their own, so the rest of what a seed gives
    # (and the tests and benchmarks built on it) does not change.
    places = random.Random(seed * 104_729 + 3)  # noqa: S311 - reproducible fake data
    orgs = [state.create_organization(name, tags, created_at=founded)
            for name, tags in data.ORGANIZATIONS]
    groups = [state.create_group(name, created_at=founded) for name in data.GROUPS]
    agents = [state.create_user(email, name, role="agent", created_at=now_ - 800 * DAY)
              for name, email in data.AGENTS]
    people = _end_users(state, rng, users if users is not None else max(10, tickets * 3 // 4),
                        orgs, now_)
    regions = _regions(state, places, people)
    events: list[tuple[datetime, int, int, Callable[[], None]]] = []
    for i in range(tickets):
        events.extend(_history(state, rng, i, people, groups, agents, now_, regions, places))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    for _, _, _, apply in events:
        apply()


def _end_users(state: ZendeskState, rng: random.Random, count: int, orgs: list[str],
               now_: datetime) -> list[str]:
    locales = [loc for loc, weight in data.LOCALE_WEIGHTS for _ in range(weight)]
    out = []
    for i in range(count):
        locale = rng.choice(locales)
        firsts, lasts, domains, zones = data.PEOPLE[locale]
        first, last = rng.choice(firsts), rng.choice(lasts)
        no_email = i % 9 == 4 or rng.random() < 0.03  # phone/chat-only people exist
        email = None if no_email else (
            f"{_ascii(first)}.{_ascii(last)}{i + 1}@{rng.choice(domains)}")
        org = rng.choice(orgs) if rng.random() < 0.75 else None
        tags = [t for t in data.USER_TAGS if rng.random() < 0.2]
        uid = state.create_user(email, f"{first} {last}", locale, rng.choice(zones), org, tags,
                                created_at=now_ - rng.randrange(30, 700) * DAY,
                                phone=_seed.phone_for(locale, i) if i % 3 != 2 or no_email
                                else None)
        if rng.random() < 0.6:
            state.update_user(int(uid), {"user_fields": {
                "plan": rng.choice(("basic", "pro", "enterprise"))}},
                at=now_ - rng.randrange(1, 30) * DAY)
        out.append(uid)
    return out


def _regions(state: ZendeskState, places: random.Random,
             people: list[str]) -> dict[str, str | None]:
    """Each person's region, in their `region` user field (some have none). Set as the
    account already had it, not as API writes (`user_writes` records only those)."""
    out: dict[str, str | None] = {}
    for uid in people:
        user = state.users[int(uid)]
        region = _seed.region_for(user.locale, places)
        if region is not None:
            user.user_fields[data.REGION_FIELD] = region
        out[uid] = region
    return out


def _history(state: ZendeskState, rng: random.Random, i: int, people: list[str],
             groups: list[str], agents: list[str], now_: datetime,
             regions: dict[str, str | None],
             places: random.Random) -> list[tuple[datetime, int, int, Callable[[], None]]]:
    """The timed steps of one ticket's life: created, then solved/closed/reopened/deleted."""
    latest = now_ - 2 * MINUTE
    roll = rng.random()
    fate = FORCED[i] if i < len(FORCED) else (
        "open" if roll < 0.2 else "solved" if roll < 0.55 else "closed" if roll < 0.85
        else "reopened" if roll < 0.95 else "deleted")
    age = rng.randrange(12 * 60, 30 * 24 * 60) * MINUTE
    if fate == "closed":
        age = max(age, 6 * DAY)
    created = now_ - age
    solved = min(created + rng.randrange(10, 3 * 24 * 60) * MINUTE, latest)
    requester = rng.choice(people) if people else None
    subject = rng.choice(data.SUBJECTS)
    tags = [t for t in data.TICKET_TAGS if rng.random() < 0.15]
    group = rng.choice(groups)
    brand = "1" if rng.random() < 0.85 else "2"
    holder: list[str] = []
    store = _seed.store_for(regions.get(requester) if requester else None, places)

    def create() -> None:
        holder.append(state.create_ticket(subject, requester, group_id=group, tags=tags,
                                          brand_id=brand, created_at=created,
                                          custom_fields={data.STORE_FIELD_ID: store}))
        ticket = state.tickets[int(holder[0])]
        ticket.assignee_id = int(rng.choice(agents))

    def step(action: Callable[[str, datetime], None], at: datetime) -> Callable[[], None]:
        return lambda: action(holder[0], at)

    steps: list[tuple[datetime, Callable[[], None]]] = [(created, create)]
    if fate in ("solved", "closed", "reopened"):
        steps.append((solved, step(state.solve_ticket, solved)))
    if fate == "closed":
        closed = min(solved + 4 * DAY, latest)
        steps.append((closed, step(state.close_ticket, closed)))
    if fate == "reopened":
        reopened = min(solved + rng.randrange(5, 2 * 24 * 60) * MINUTE, latest)
        steps.append((reopened, step(state.reopen_ticket, reopened)))
    if fate == "deleted":
        steps.append((solved, step(state.delete_ticket, solved)))
    return [(at, i, n, fn) for n, (at, fn) in enumerate(steps)]
