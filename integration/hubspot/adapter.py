"""HubSpotAdapter: the CRMAdapter protocol over hubspot-api-client 12.

The SDK client is built once and each API object is cached (every access to
`client.crm.x.y` builds a new ApiClient and connection pool). The SDK's urllib3 retry is
switched off (`Retry(total=0)`): every call goes through the one tenacity policy in
integration.retry, with a `_request_timeout` on every call, and is counted per endpoint.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.tickets import Filter, FilterGroup, PublicObjectSearchRequest

from integration.base import (
    Contact,
    ContactUpdate,
    CRMAdapter,
    OnlineCheck,
    PropertySpec,
    TicketPage,
    WriteResult,
)
from integration.errors import AuthError, ClosedLoopError, ConfigError, RecordRejected
from integration.hubspot import _properties
from integration.hubspot._cursor import SearchCursor
from integration.hubspot._errors import http_error, redact, translate
from integration.hubspot._tickets import TICKET_PROPERTIES, closed_ticket_pages, to_ms
from integration.hubspot.endpoints import path_of
from integration.retry import RetryPolicy, call_with_retry

log = structlog.get_logger(__name__)

BATCH_SIZE = 100  # contacts batch read/update limit
ASSOCIATION_BATCH = 1000  # associations v4 batch read limit
CONTACT_PROPERTIES = ["email", "firstname", "lastname", "hs_language", "hs_timezone"]


class HubSpotAdapter:
    """One HubSpot account (portal), as the jobs see it."""

    required_scopes: ClassVar[tuple[str, ...]] = (
        "tickets",
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.schemas.contacts.read",
        "crm.schemas.contacts.write",
    )

    def __init__(self, name: str, token: str, base_url: str = "https://api.hubapi.com", *,
                 start_at: datetime | None = None, overlap: timedelta = timedelta(minutes=5),
                 page_size: int = 200, timeout: tuple[float, float] = (5, 30),
                 retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
                 pipelines: Sequence[str] = ()) -> None:
        self.name = name
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._start_at = start_at
        self._overlap_ms = int(overlap.total_seconds() * 1000)
        self._page_size = page_size
        self._timeout = timeout
        self._retry = retry
        self._pipelines = tuple(pipelines)
        self._calls: Counter[str] = Counter()
        self._closed_stages: list[str] | None = None
        client = HubSpot(access_token=token, host=self._base_url, base_url=self._base_url,
                         retry=urllib3.Retry(total=0))
        self._pipelines_api = client.crm.pipelines.pipelines_api
        self._search_api = client.crm.tickets.search_api
        self._associations_api = client.crm.associations.v4.batch_api
        self._contacts_api = client.crm.contacts.batch_api
        self._properties_api = client.crm.properties.core_api
        self._groups_api = client.crm.properties.groups_api
        self._raw_pool: urllib3.PoolManager | None = None

    def __repr__(self) -> str:  # never show the token
        return f"HubSpotAdapter(name={self.name!r}, base_url={self._base_url!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, endpoint: str, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """One SDK call through the retry policy; every attempt is counted and translated."""

        def attempt() -> Any:
            self._calls[endpoint] += 1
            try:
                return fn(**kwargs, _request_timeout=self._timeout)
            except ClosedLoopError:
                raise
            except Exception as exc:
                error = translate(exc, endpoint=endpoint)
                if error is None:
                    raise
                raise error from exc

        return call_with_retry(attempt, policy=self._retry, op=f"{self.name}.{endpoint}")

    def call_count(self) -> int:
        """HTTP calls made so far, retried attempts included."""
        return sum(self._calls.values())

    def calls_by_endpoint(self) -> dict[str, int]:
        """Calls per endpoint name (see endpoints.ENDPOINTS), for metrics and tests."""
        return dict(self._calls)

    # -- closed tickets ---------------------------------------------------------------------

    def _closed_stage_ids(self) -> list[str]:
        """Stage ids whose ticketState is CLOSED (in the configured pipelines), read once."""
        if self._closed_stages is None:
            answer = self._call("pipelines", self._pipelines_api.get_all, object_type="tickets")
            stages = [
                str(stage.id)
                for pipeline in answer.results or []
                if not self._pipelines or str(pipeline.id) in self._pipelines
                for stage in pipeline.stages or []
                if (stage.metadata or {}).get("ticketState") == "CLOSED"
            ]
            if not stages:
                raise ConfigError([f"{self.name}: no CLOSED ticket stage in pipelines "
                                   f"{list(self._pipelines) or 'any'}"])
            self._closed_stages = stages
        return self._closed_stages

    def _search(self, from_ms: int, after: str | None) -> Any:
        filters = [
            Filter(property_name="closed_date", operator="GTE", value=str(from_ms)),
            Filter(property_name="hs_pipeline_stage", operator="IN",
                   values=self._closed_stage_ids()),
        ]
        if self._pipelines:
            filters.append(Filter(property_name="hs_pipeline", operator="IN",
                                  values=list(self._pipelines)))
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)],
            sorts=[{"propertyName": "closed_date", "direction": "ASCENDING"}],
            properties=list(TICKET_PROPERTIES), limit=self._page_size, after=after)
        return self._call("tickets_search", self._search_api.do_search,
                          public_object_search_request=request)

    def _ticket_contacts(self, ticket_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Contact ids per ticket (v4 batch read), following each ticket's own paging."""
        found: dict[str, list[str]] = {tid: [] for tid in ticket_ids}
        pending: list[tuple[str, str | None]] = [(tid, None) for tid in ticket_ids]
        tokens: set[tuple[str, str]] = set()
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[
                PublicFetchAssociationsBatchRequest(id=tid, after=after) for tid, after in chunk])
            answer = self._call("ticket_contacts", self._associations_api.get_page,
                                from_object_type="tickets", to_object_type="contacts",
                                batch_input_public_fetch_associations_batch_request=body)
            for row in answer.results or []:
                ticket_id = str(row._from.id)
                found.setdefault(ticket_id, []).extend(str(to.to_object_id) for to in row.to or [])
                nxt = row.paging.next.after if row.paging and row.paging.next else None
                if nxt:
                    if (ticket_id, str(nxt)) in tokens:
                        raise ClosedLoopError(
                            f"HubSpot associations repeated page token for ticket {ticket_id}")
                    tokens.add((ticket_id, str(nxt)))
                    pending.append((ticket_id, str(nxt)))
        return {tid: tuple(dict.fromkeys(ids)) for tid, ids in found.items()}

    def closed_tickets(self, cursor: str | None) -> Iterator[TicketPage]:
        """Pages of tickets closed since `cursor` (None: since `start_at`, default a day ago).

        A resumed cursor re-reads the last `overlap` of closures (index lag) and skips
        the tickets it already yielded; see _cursor.py for the format.
        """
        if cursor is None:
            start = self._start_at or datetime.now(UTC) - timedelta(days=1)
            state = SearchCursor(watermark_ms=to_ms(start))
            query_from = state.watermark_ms
        else:
            state = SearchCursor.loads(cursor)
            query_from = state.watermark_ms - self._overlap_ms
        return closed_ticket_pages(search=self._search, contacts_of=self._ticket_contacts,
                                   cursor=state, query_from_ms=query_from,
                                   page_size=self._page_size, overlap_ms=self._overlap_ms)

    # -- contacts ---------------------------------------------------------------------------

    def contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Read contacts 100 at a time; ids HubSpot does not know are left out (count logged)."""
        unique = list(dict.fromkeys(str(i) for i in ids))
        out: dict[str, Contact] = {}
        for start in range(0, len(unique), BATCH_SIZE):
            chunk = unique[start:start + BATCH_SIZE]
            body = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in chunk], properties=CONTACT_PROPERTIES)
            answer = self._call("contacts_read", self._contacts_api.read,
                                batch_read_input_simple_public_object_id=body)
            for row in answer.results or []:
                props = row.properties or {}
                out[str(row.id)] = Contact(
                    id=str(row.id), email=props.get("email") or None,
                    first_name=props.get("firstname") or None,
                    last_name=props.get("lastname") or None,
                    language=props.get("hs_language") or None,
                    timezone=props.get("hs_timezone") or None)
            missing = len(chunk) - sum(1 for i in chunk if i in out)
            if missing:
                log.info("hubspot.contacts.missing", source=self.name, count=missing)
        return out

    def write_contacts(self, updates: Sequence[ContactUpdate]) -> WriteResult:
        """Batch-update contacts 100 at a time; per-contact refusals land in `rejected`.

        Updates for the same contact are merged (later values win) because HubSpot refuses
        a batch that names one id twice. A whole batch refused (400, e.g. an unknown
        property) raises RecordRejected: the values are the same on a retry, so a caller
        that re-sends everything after fixing the mapping writes nothing twice.
        """
        merged: dict[str, dict[str, str]] = {}
        for update in updates:
            merged.setdefault(str(update.contact_id), {}).update(update.properties)
        result = WriteResult()
        items = list(merged.items())
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start:start + BATCH_SIZE]
            body = BatchInputSimplePublicObjectBatchInput(inputs=[
                SimplePublicObjectBatchInput(id=cid, object_write_trace_id=cid, properties=props)
                for cid, props in chunk])
            answer = self._call("contacts_update", self._contacts_api.update,
                                batch_input_simple_public_object_batch_input=body)
            rejected = _batch_errors(getattr(answer, "errors", None), [cid for cid, _ in chunk])
            result.rejected.update(rejected)
            result.written.extend(cid for cid, _ in chunk if cid not in rejected)
            log.info("hubspot.contacts.written", source=self.name, batch=len(chunk),
                     rejected=len(rejected))
        return result

    # -- setup and checks -------------------------------------------------------------------

    def ensure_properties(self, group: str, group_label: str,
                          specs: Sequence[PropertySpec]) -> list[str]:
        """Create the group and the missing properties (one GET, then one POST per missing)."""
        return _properties.ensure(self._call, self._properties_api, self._groups_api,
                                  group=group, group_label=group_label, specs=specs,
                                  source=self.name)

    def check_online(self, required_scopes: Sequence[str],
                     property_names: Sequence[str]) -> OnlineCheck:
        """Token scopes (access-token-info) and mapped properties, each gap one problem."""
        try:
            scopes = self._token_scopes()
        except AuthError:
            return OnlineCheck(ok=False, problems=["token rejected by HubSpot (401)"])
        except RecordRejected as exc:
            return OnlineCheck(ok=False, problems=[f"could not read the token's scopes: {exc}"])
        problems = [f"token lacks scope {s!r}" for s in required_scopes if s not in scopes]
        missing: list[str] = []
        if property_names:
            try:
                existing = _properties.existing_names(self._call, self._properties_api)
            except AuthError as exc:
                problems.append(f"cannot read contact properties: {exc}")
            else:
                missing = [n for n in property_names if n not in existing]
                problems += [f"contact property {n!r} does not exist (run setup)" for n in missing]
        return OnlineCheck(ok=not problems, problems=problems, scopes=sorted(scopes),
                           missing_properties=missing)

    def _token_scopes(self) -> set[str]:
        """POST access-token-info with urllib3 directly.

        The SDK wraps this endpoint only through `client.api_request`, which uses `requests`
        with no timeout and its own base URL; a plain urllib3 call keeps the timeout,
        the base URL and the error translation the same as every other call.
        """
        if self._raw_pool is None:
            self._raw_pool = urllib3.PoolManager(retries=urllib3.Retry(total=0))
        pool = self._raw_pool
        url = self._base_url + path_of("token_info")
        payload = json.dumps({"tokenKey": self._token}).encode()
        timeout = urllib3.Timeout(connect=self._timeout[0], read=self._timeout[1])

        def attempt() -> dict[str, Any]:
            self._calls["token_info"] += 1
            try:
                response = pool.request("POST", url, body=payload, timeout=timeout,
                                        headers={"Content-Type": "application/json",
                                                 "Authorization": f"Bearer {self._token}"})
            except urllib3.exceptions.HTTPError as exc:
                raise translate(exc, endpoint="token_info") or exc from exc
            if response.status >= 300:
                raise http_error(response.status, response.data, response.headers,
                                 endpoint="token_info")
            data = json.loads(response.data or b"{}")
            return data if isinstance(data, dict) else {}

        info = call_with_retry(attempt, policy=self._retry, op=f"{self.name}.token_info")
        return {str(s) for s in info.get("scopes") or []}


def _batch_errors(errors: Any, ids: Sequence[str]) -> dict[str, str]:
    """Map a 207's errors to contact ids (via context ids or our write trace id)."""
    rejected: dict[str, str] = {}
    known = set(ids)
    for error in errors or []:
        context: dict[str, Any] = getattr(error, "context", None) or {}
        named = [str(i) for key in ("ids", "objectWriteTraceId", "id")
                 for i in (context.get(key) or [])]
        reason = redact(f"{getattr(error, 'category', '') or 'ERROR'}: "
                        f"{getattr(error, 'message', '') or ''}".strip())[:500]
        for cid in named:
            if cid in known:
                rejected[cid] = reason
    return rejected


if TYPE_CHECKING:  # mypy proves the adapter satisfies the protocol the jobs use

    def _conforms(adapter: HubSpotAdapter) -> CRMAdapter:
        return adapter
