"""Contact property writes, 100 contacts a batch update, never applied twice by a retry.

A batch update that failed with a 5xx, a timeout or a cut connection may have been applied.
Re-sending it would write the same values again (a second entry in each property's history,
quota spent for nothing), so the next attempt first reads those contacts (one batch read) and
re-sends only the contacts whose values are not there yet. Values compare as HubSpot stores
them: a datetime written as "+00:00" reads back as "Z", a number may gain ".0".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import structlog
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from closedloop.integration.base import ContactUpdate, WriteResult
from closedloop.integration.hubspot._contacts import BATCH_SIZE
from closedloop.integration.hubspot._errors import batch_errors, outcome_unknown
from closedloop.integration.hubspot._tickets import parse_hubspot_time

log = structlog.get_logger(__name__)

CallFn = Callable[..., Any]  # HubSpotAdapter._call_self_counted: fn counts its calls
CountFn = Callable[[str], None]
PostFn = Callable[[str, dict[str, Any]], dict[str, Any]]  # HubSpotAdapter._post_json
Item = tuple[str, dict[str, str]]  # (contact id, properties)


def same_value(written: str | None, stored: Any) -> bool:
    """Whether a value read back is the one written (as HubSpot normalizes it)."""
    left, right = str(written or "").strip(), str(stored or "").strip()
    if left == right:
        return True
    if not left or not right:
        return False
    for parse in (float, parse_hubspot_time):
        try:
            return bool(parse(left) == parse(right))
        except (ValueError, OverflowError):
            continue
    return False


def _applied(contacts_api: Any, count: CountFn, timeout: tuple[float, float],
             items: Sequence[Item]) -> set[str]:
    """The contacts of `items` whose properties already hold the values (one batch read)."""
    names = sorted({name for _, props in items for name in props})
    read = BatchReadInputSimplePublicObjectId(
        properties=names, properties_with_history=[],
        inputs=[SimplePublicObjectId(id=cid) for cid, _ in items])
    count("contacts_read")
    answer = contacts_api.read(batch_read_input_simple_public_object_id=read, archived=False,
                               _request_timeout=timeout)
    stored = {str(row.id): row.properties or {} for row in answer.results or []}
    return {cid for cid, props in items if cid in stored
            and all(same_value(v, stored[cid].get(k)) for k, v in props.items())}


def write_contact_batches(call: CallFn, count: CountFn, contacts_api: Any,
                          timeout: tuple[float, float], updates: Sequence[ContactUpdate], *,
                          source: str, post: PostFn) -> WriteResult:
    """Merge updates per contact (HubSpot refuses one id twice in a batch) and write them.

    The update goes out as plain JSON through `post` (the adapter's `_post_json`): the
    answer's records are not needed, only its errors, so the SDK's model decoding of 100
    records per call is skipped on this hot path."""
    merged: dict[str, dict[str, str]] = {}
    for update in updates:
        merged.setdefault(str(update.contact_id), {}).update(update.properties)
    result = WriteResult()
    items = list(merged.items())
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start:start + BATCH_SIZE]
        todo = chunk
        unknown = False

        def attempt(**kwargs: Any) -> Any:
            nonlocal todo, unknown
            if unknown:  # the last attempt may have landed: send only what is not there
                landed = _applied(contacts_api, count, timeout, todo)
                if landed:
                    log.info("hubspot.contacts.found_written", source=source,
                             contacts=len(landed))
                result.written.extend(cid for cid, _ in todo if cid in landed)
                todo = [(cid, props) for cid, props in todo if cid not in landed]
                unknown = False
            if not todo:
                return None
            body = {"inputs": [{"id": cid, "objectWriteTraceId": cid, "properties": props}
                               for cid, props in todo]}
            count("contacts_update")
            try:
                return post("contacts_update", body)
            except Exception as exc:
                unknown = outcome_unknown(exc)
                raise

        answer = call("contacts_update", attempt) or {}
        ids = [cid for cid, _ in todo]
        rejected = batch_errors([SimpleNamespace(**e) for e in answer.get("errors") or []
                                 if isinstance(e, dict)], ids)
        result.rejected.update(rejected)
        result.written.extend(cid for cid in ids if cid not in rejected)
        log.info("hubspot.contacts.written", source=source, batch=len(chunk),
                 rejected=len(rejected))
    return result
