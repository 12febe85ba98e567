"""ZendeskAdapter: the CRMAdapter protocol over zenpy 2.0.57.

zenpy runs on our own counting session (see _transport.py): no urllib3 retries, 429
answered by raising RateLimited with the server's Retry-After, every request counted per
endpoint. zenpy's object cache is off (`disable_cache=True`: it keeps users forever), its
`ratelimit_budget` is 1 (it never sleeps itself) and every call has a timeout. Each call
goes through the one tenacity policy in integration.retry, and zenpy's result generators
are read page by page (_paging.py) so paging requests are retried and checkpointed too.
Reads and writes made for every surveyed ticket skip zenpy's objects (JSON, _raw*.py).

`base_url` points zenpy at another server (the sandbox) through ZENPY_FORCE_SCHEME /
ZENPY_FORCE_NETLOC, which zenpy reads process-wide: see `_transport.OVERRIDE`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from zenpy import Zenpy

from closedloop.integration._translate import call_translated
from closedloop.integration.base import (
    Attribution,
    Contact,
    ContactUpdate,
    CRMAdapter,
    Erasure,
    FollowUp,
    FollowUpResult,
    MemberSelection,
    OnlineCheck,
    PropertySpec,
    Ticket,
    TicketPage,
    TicketUpdate,
    WriteResult,
)
from closedloop.integration.errors import ConfigError
from closedloop.integration.pacing import Pacer, PacingStats
from closedloop.integration.retry import RetryPolicy, call_with_retry
from closedloop.integration.zendesk import _fields, _jobs
from closedloop.integration.zendesk._cursor import ExportCursor
from closedloop.integration.zendesk._erase import erase_quotes
from closedloop.integration.zendesk._errors import translate
from closedloop.integration.zendesk._follow_ups import original_tickets, start_follow_up_tickets
from closedloop.integration.zendesk._members import member_pages
from closedloop.integration.zendesk._notified import closed_tickets_by_id
from closedloop.integration.zendesk._notify_setup import (
    TriggerSetup,
    ensure_solved_trigger,
    ensure_survey_trigger,
    signing_secret,
)
from closedloop.integration.zendesk._online import check_online
from closedloop.integration.zendesk._paging import CallFn, pages
from closedloop.integration.zendesk._raw import RawReader, show_many
from closedloop.integration.zendesk._raw_writes import RawWriter
from closedloop.integration.zendesk._single import SINGLE_MAX, write_singly
from closedloop.integration.zendesk._ticket_notes import landed_notes, update_tickets
from closedloop.integration.zendesk._tickets import (
    SOLVED_STATUSES,
    closed_ticket_pages,
    str_id,
)
from closedloop.integration.zendesk._transport import OVERRIDE, CountingSession
from closedloop.integration.zendesk._user_memo import SideloadedUsers
from closedloop.integration.zendesk._users import to_contact

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE = 1000  # incremental export limit
SINGLE_ENDPOINTS = {"users_update_many": "user_update", "tickets_update_many": "ticket_update"}
"""The single-record endpoint a small update_many call uses instead (see _single.py)."""


class ZendeskAdapter:
    """One Zendesk account (subdomain), as the jobs see it."""

    write_batch_size: int = _jobs.WRITE_BATCH
    """30 update_many jobs of 100 (Zendesk's job limit), submitted and followed together."""

    # Zendesk API tokens carry no scopes: check_online checks the token user's role instead.
    required_scopes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, *, subdomain: str, email: str, token: str,
                 base_url: str | None = None, start_at: datetime | None = None,
                 lookback: timedelta = timedelta(days=1), page_size: int = MAX_PAGE_SIZE,
                 timeout: tuple[float, float] = (5.0, 60.0), retry: RetryPolicy | None = None,
                 job_poll_interval: float = 1.0, job_timeout: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ticket_properties: Sequence[str] = (),
                 contact_properties: Sequence[str] = (),
                 pacer: Pacer | None = None, single_max: int = SINGLE_MAX) -> None:
        """`ticket_properties` (custom field ids, or standard field names) and
        `contact_properties` (user field keys): more values to read (reporting segments),
        taken from the ticket export and user reads already made, returned in
        Ticket.properties / Contact.properties. `pacer`: the source's rate windows.
        `single_max`: writes of at most this many records use single-record PUTs instead
        of a job (see _single.py; 0: always a job)."""
        problems = [f"{name}: {what} is required" for what, value in
                    (("subdomain", subdomain), ("email", email), ("token", token))
                    if not (value or "").strip()]
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            problems.append(f"{name}: page_size must be 1..{MAX_PAGE_SIZE}, not {page_size}")
        if job_poll_interval <= 0 or job_timeout < 0:
            problems.append(f"{name}: job_poll_interval must be > 0 and job_timeout >= 0")
        if problems:
            raise ConfigError(problems)
        self.name = name
        self._subdomain = subdomain.strip()
        self._base_url = base_url.rstrip("/") if base_url else None
        self._default_netloc = f"{self._subdomain}.zendesk.com"
        self._start_at = start_at
        self._lookback = lookback
        self._page_size = page_size
        self._retry = retry or RetryPolicy(sleep=sleep)
        self._waiting = _jobs.JobWaiting(interval=job_poll_interval, timeout=job_timeout,
                                         sleep=sleep)
        self._clock = clock
        self._ticket_extra = tuple(dict.fromkeys(str(p) for p in ticket_properties))
        self._contact_extra = tuple(dict.fromkeys(str(p) for p in contact_properties))
        self._board = _jobs.JobBoard()  # jobs started and followed later (follow-ups)
        self._single_max = single_max
        self._sideloaded = SideloadedUsers()  # requesters read with their tickets
        OVERRIDE.acquire(self._base_url, self._default_netloc, source=name)
        self._closed = False
        self._session = CountingSession(pacer)
        url = base_url or f"https://{self._default_netloc}"
        self._raw, self._writes = (RawReader(self._session, url, timeout),
                                   RawWriter(self._session, url, timeout))
        self._job_statuses = partial(self._raw.show_many, _jobs.STATUS_ENDPOINT)
        self._zd = Zenpy(subdomain=self._subdomain, email=email.strip(), token=token.strip(),
                         session=self._session, timeout=timeout, ratelimit_budget=1,
                         disable_cache=True)

    def __repr__(self) -> str:  # never show the token
        where = self._base_url or f"https://{self._default_netloc}"
        return f"ZendeskAdapter(name={self.name!r}, url={where!r})"

    def close(self) -> None:
        """Release the process-wide zenpy override (if this adapter set it) and the session."""
        if not self._closed:
            self._closed = True
            OVERRIDE.release(self._base_url, self._default_netloc)
            self._session.close()

    def __enter__(self) -> ZendeskAdapter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, endpoint: str, fn: Callable[[], Any]) -> Any:
        """One zenpy call through the retry policy, its failures translated at the edge."""
        return call_with_retry(lambda: call_translated(fn, translate, endpoint),
                               policy=self._retry, op=f"{self.name}.{endpoint}")

    def _call_create(self, endpoint: str, fn: Callable[[], Any]) -> Any:
        """A call that creates (a note): 429s are retried, a 5xx or a timeout is not, as
        it may have created what it was asked to; the caller looks first next time."""
        return call_with_retry(lambda: call_translated(fn, translate, endpoint),
                               policy=self._retry, op=f"{self.name}.{endpoint}",
                               only_rate_limits=True)

    def call_count(self) -> int:
        """HTTP requests made so far, retried attempts and zenpy's paging included."""
        return sum(self._session.counts().values())

    def calls_by_endpoint(self) -> dict[str, int]:
        """Requests per endpoint name (see endpoints.ENDPOINTS), for metrics and tests."""
        return self._session.counts()

    def rate_limited_by_endpoint(self) -> dict[str, int]:
        """Requests Zendesk answered 429, per endpoint name, for metrics."""
        return self._session.rate_limited()

    def pacing_stats(self) -> PacingStats | None:
        """What the source's pacer did (None: unpaced), for metrics."""
        pacer = self._session.pacer
        return pacer.stats if pacer is not None else None

    def _show_many(self, endpoint: str, ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every record of `ids` as a dict (plain JSON, _raw.py; unknown ids left out)."""
        return show_many(self._call, self._raw, endpoint, ids)

    # -- closed tickets ---------------------------------------------------------------------

    def closed_tickets(self, cursor: str | None,
                       contacts: bool = True) -> Iterator[TicketPage]:
        """Pages of tickets solved or closed since `cursor` (None: since `start_at`, default
        `lookback` ago). Persist each page's cursor once its rows are stored. The requester
        comes with each ticket at no extra call, so `contacts` changes nothing."""
        if cursor is None:
            now = self._clock()
            start = self._start_at or now - self._lookback
            # The export refuses a start time in the future; Zendesk also hides the last minute.
            start = min(start, now - timedelta(minutes=1))
            state = ExportCursor(start=int(start.timestamp()))
        else:
            state = ExportCursor.loads(cursor)
        return closed_ticket_pages(self._call, self._raw, state,
                                   page_size=self._page_size, source=self.name,
                                   extra=self._ticket_extra, users=self._sideloaded)

    def closed_tickets_by_id(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        """Of these (notified) tickets, the solved or closed ones, as the export reads them
        (show_many with the metric_sets sideload, 100 per call); see _notified.py."""
        return closed_tickets_by_id(self._call, self._raw, ticket_ids,
                                    self._ticket_extra, self._sideloaded)

    def ensure_solved_trigger(self, name: str, endpoint: str) -> TriggerSetup:
        """The webhook and "ticket solved" trigger that notify ClosedLoop (found by name,
        else created); see _notify_setup.py."""
        return ensure_solved_trigger(self._call, self._zd, name, endpoint)

    def ensure_survey_trigger(self, program: str, endpoint: str) -> TriggerSetup:
        """The webhook and the trigger that ask for an event program's survey (found by
        name, else created); see _notify_setup.py."""
        return ensure_survey_trigger(self._call, self._zd, program, endpoint)

    def webhook_signing_secret(self, webhook_id: str) -> str:
        """The webhook's signing secret, read back through the API."""
        return signing_secret(self._call, self._zd, webhook_id)

    def write_follow_ups(self, items: Sequence[FollowUp]) -> FollowUpResult:
        """A follow-up ticket per item (create_many jobs), or a private comment on the one
        it has (update_many); see _follow_ups.py."""
        return self.start_follow_ups(items)()

    def start_follow_ups(self, items: Sequence[FollowUp]) -> Callable[[], FollowUpResult]:
        """write_follow_ups in two steps: the create_many jobs are submitted now and wait on
        the adapter's job board, so every job poll made before the returned call (the
        contact write's, the hooks') reads them too; the call follows them to the end."""
        def start(endpoint: str, submit: Callable[[list[Any]], Any],
                  jobs: list[tuple[str, Any]]) -> _jobs.StartedJobs:
            return _jobs.start_jobs(self._call, endpoint, submit, self._job_statuses, jobs,
                                    self._waiting, source=self.name,
                                    submit_call=self._call_create, board=self._board)

        def run(endpoint: str, submit: Callable[[list[Any]], Any],
                jobs: list[tuple[str, Any]]) -> _jobs.JobOutcome:
            return start(endpoint, submit, jobs).finish()

        return start_follow_up_tickets(self._call, start, run, self._zd.tickets, self._writes,
                                       self._original_tickets, items, source=self.name)

    def _original_tickets(self, items: Sequence[FollowUp]) -> dict[str, dict[str, Any]]:
        """The originals now, for items without a complete rating-time reading."""
        return original_tickets(self._show_many, items)

    def reopened(self, ticket_ids: Sequence[str]) -> set[str]:
        """Tickets no longer solved/closed: reopened, deleted or unknown (show_many, 100s)."""
        unique = list(dict.fromkeys(str(i) for i in ticket_ids))
        valid = [i for i in unique if i.isdigit()]
        status = {str(raw.get("id")): str(raw.get("status"))
                  for raw in self._show_many("tickets_show_many", valid)}
        return {i for i in unique if status.get(i) not in SOLVED_STATUSES}

    def reopened_with_attribution(self, ticket_ids: Sequence[str], others: Sequence[str],
                                  ) -> tuple[set[str], dict[str, Attribution]]:
        """`reopened(ticket_ids)` and `ticket_attribution(others)` from the same show_many
        calls (100 tickets a call)."""
        unique = list(dict.fromkeys(str(i) for i in [*ticket_ids, *others]))
        raws = {str(raw.get("id")): raw for raw in self._show_many(
            "tickets_show_many", [i for i in unique if i.isdigit()])}
        gone = {str(i) for i in ticket_ids
                if str((raws.get(str(i)) or {}).get("status")) not in SOLVED_STATUSES}
        who = {str(i): Attribution(owner_id=str_id(raws[str(i)].get("assignee_id")),
                                   team_id=str_id(raws[str(i)].get("group_id")),
                                   closed=raws[str(i)].get("status") == "closed")
               for i in others if str(i) in raws}
        return gone, who

    def ticket_attribution(self, ticket_ids: Sequence[str]) -> dict[str, Attribution]:
        """Each ticket's assignee and group now (show_many, 100 per call), as the poll reads
        them at close time; deleted or unknown tickets are left out."""
        unique = list(dict.fromkeys(str(i) for i in ticket_ids))
        valid = [i for i in unique if i.isdigit()]
        out = {str(raw.get("id")): Attribution(owner_id=str_id(raw.get("assignee_id")),
                                               team_id=str_id(raw.get("group_id")),
                                               closed=raw.get("status") == "closed")
               for raw in self._show_many("tickets_show_many", valid)}
        log.info("zendesk.tickets.attributed", source=self.name, asked=len(unique),
                 found=len(out))
        return out

    def update_tickets(self, updates: Sequence[TicketUpdate]) -> WriteResult:
        """Add tags and/or a private note, in update_many jobs of 100 followed together;
        notes are idempotent by their marker. See _ticket_notes.py."""
        return update_tickets(partial(self._run_jobs, submit_call=self._call_create),
                              self._writes.update_tickets, partial(landed_notes, self._call,
                                                        self._zd.tickets, source=self.name),
                              updates)

    def erase_quotes(self, items: Sequence[Erasure]) -> WriteResult:
        """Hook comments and follow-up tickets' comments redacted; see _erase.py."""
        return erase_quotes(self._call, self._zd.tickets, items, source=self.name)

    # -- contacts ---------------------------------------------------------------------------

    def contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Read users 100 at a time (show_many); ids Zendesk does not know are left out.
        Requesters that came along with their tickets a moment ago (the export's and the
        notified read's `users` sideload) cost no request: see _user_memo.py."""
        unique = [i for i in dict.fromkeys(str(i) for i in ids) if i.isdigit()]
        out: dict[str, Contact] = {}
        sideloaded = self._sideloaded.take(unique)
        rest = [i for i in unique if i not in sideloaded]
        for raw in [*sideloaded.values(), *self._show_many("users_show_many", rest)]:
            contact = to_contact(raw, self._contact_extra)
            out[contact.id] = contact
        missing = len(unique) - len(out)
        if missing:
            log.info("zendesk.contacts.missing", source=self.name, count=missing)
        return out

    def find_contacts_by_email(self, emails: Sequence[str]) -> dict[str, Contact]:
        """Users by address (lower-cased key), for survey triggers that name only an
        e-mail: one user search (export) per address; unknown ones are left out."""
        out: dict[str, Contact] = {}
        for email in dict.fromkeys(e.strip().lower() for e in emails if e.strip()):
            if any(ch.isspace() or ch == '"' for ch in email):
                continue  # not an address Zendesk can hold

            def first(address: str = email) -> Any:
                return self._zd.search_export(f"email:{address}", type="user")
            for page in pages(self._call, "search_export", first):
                for raw in (item.to_dict() for item in page):
                    contact = to_contact(raw, self._contact_extra)
                    if (contact.email or "").strip().lower() == email:
                        out[email] = contact
        return out

    def write_contacts(self, updates: Sequence[ContactUpdate]) -> WriteResult:
        """Write user fields in update_many jobs of 100, followed to the end together.

        Updates for one user are merged (later values win); "" blanks a field (sent as
        null). Per-user refusals land in `rejected` with Zendesk's message.
        """
        merged: dict[str, dict[str, str | None]] = {}
        for update in updates:
            fields = merged.setdefault(str(update.contact_id), {})
            fields.update({k: (v if v != "" else None) for k, v in update.properties.items()})
        result = WriteResult()
        items: list[tuple[str, Any]] = []
        for uid, fields in merged.items():
            if not uid.isdigit():
                result.rejected[uid] = "not a Zendesk user id"
            else:
                items.append((uid, {"id": int(uid), "user_fields": fields}))
        done = self._run_jobs("users_update_many", self._writes.update_users, items, result)
        return WriteResult(written=done.done, rejected=done.refused)

    def _run_jobs(self, endpoint: str, submit: Callable[[Any], Any],
                  items: list[tuple[str, Any]], settled: WriteResult,
                  submit_call: CallFn | None = None) -> _jobs.JobOutcome:
        """update_many jobs for `items`, followed together, or for SINGLE_MAX items or
        fewer one single-record PUT each (no job to poll; see _single.py); `settled` is
        what the method decided itself (bad ids, no-ops), kept in the outcome and in a
        PartialWrite."""
        decided = _jobs.JobOutcome(settled.written, settled.rejected)
        if 0 < len(items) <= self._single_max:
            return write_singly(submit_call or self._call, SINGLE_ENDPOINTS[endpoint],
                                submit, items, decided, source=self.name)
        return _jobs.run_jobs(self._call, endpoint, submit, self._job_statuses, items,
                              self._waiting, source=self.name, settled=decided,
                              submit_call=submit_call, board=self._board)

    def members(self, selection: MemberSelection) -> Iterator[list[Contact]]:
        """Pages of users an NPS selection holds (an organization's users, or a user search
        by tag or by query); see _members.py."""
        return member_pages(self._call, self._zd, selection, self._contact_extra,
                            source=self.name)

    # -- setup and checks -------------------------------------------------------------------

    def ensure_properties(self, group: str, group_label: str,
                          specs: Sequence[PropertySpec]) -> list[str]:
        """Create the missing user fields (Zendesk has no groups: `group` is ignored)."""
        return _fields.ensure(self._call, self._zd.user_fields,
                              [s for s in specs if s.object_type == "contacts"], source=self.name)

    def undefined_properties(self, ticket_names: Sequence[str],
                             contact_names: Sequence[str]) -> dict[str, list[str]]:
        """Of these, the ticket fields (a custom field id, or a standard field name) and
        user field keys the account does not have (ticket_fields / user_fields reads)."""
        out: dict[str, list[str]] = {}
        if ticket_names:
            custom = _fields.ticket_field_ids(self._call, self._zd.ticket_fields)
            out["ticket"] = [n for n in ticket_names
                             if (n not in custom if n.isdigit()
                                 else n not in _fields.STANDARD_TICKET_FIELDS)]
        if contact_names:
            existing = _fields.existing_fields(self._call, self._zd.user_fields)
            out["contact"] = [n for n in contact_names if n not in existing]
        return out

    def check_online(self, required_scopes: Sequence[str], property_names: Sequence[str],
                     ticket_property_names: Sequence[str] = ()) -> OnlineCheck:
        """The token works, its user is an admin or agent, the fields exist (Zendesk tokens
        have no scopes: `required_scopes` is not used); see _online.py."""
        return check_online(self._call, self._zd, property_names, ticket_property_names)


if TYPE_CHECKING:  # mypy proves the adapter satisfies the protocol the jobs use

    def _conforms(adapter: ZendeskAdapter) -> CRMAdapter:
        return adapter
