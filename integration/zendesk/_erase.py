"""`closedloop forget` on Zendesk: redact what quotes the person in ticket comments.

On the survey's ticket, the private comments a hook added (they carry a ``[cl-hook-``
marker) are redacted; on each follow-up ticket, every comment is (the first one holds the
score and comment, later ones each re-score). Redaction is Zendesk's "Redact Ticket Comment
In Agent Workspace" (PUT comment_redactions/{comment id}), the one that also works on
closed tickets: surveys follow solved tickets, which close days later. zenpy 2.0.57 only
wraps the older redact.json (open tickets only), so the PUT goes through zenpy's own URL
building, session and error checks. Every text run of the comment's html_body is wrapped in
``<redact>``; a comment left with nothing but ▇ is skipped, so a retry, or a second forget,
changes nothing. A ticket deleted since has nothing left to erase and counts as done.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

import structlog
from zenpy.lib.endpoint import SecondaryEndpoint

from closedloop.integration.base import HOOK_MARKER, Erasure, WriteResult
from closedloop.integration.errors import RecordRejected
from closedloop.integration.zendesk._paging import CallFn, pages

log = structlog.get_logger(__name__)

BLOCK: Final = "▇"
_TEXT_RUN = re.compile(r"(^|>)([^<]+)")
_REDACTIONS = SecondaryEndpoint("comment_redactions/%(id)s")


def redaction_html(html: str) -> str | None:
    """The html_body with every text run wrapped in <redact>; None when nothing is left to
    redact (only ▇ and white space)."""
    if not any(m[2].strip(BLOCK + " \t\r\n") for m in _TEXT_RUN.finditer(html)):
        return None
    return _TEXT_RUN.sub(lambda m: f"{m[1]}<redact>{m[2]}</redact>"
                         if m[2].strip(BLOCK + " \t\r\n") else m[0], html)


def erase_quotes(call: CallFn, tickets_api: Any, items: Sequence[Erasure], *,
                 source: str) -> WriteResult:
    """Redact the hook comments and follow-up comments of each item; per-item refusals
    (other than a deleted ticket) are rejected, a failed call raises for a retry."""
    result = WriteResult()
    redacted = 0
    for item in items:
        try:
            if item.ticket_id and item.ticket_id.isdigit():
                redacted += _redact(call, tickets_api, int(item.ticket_id),
                                    lambda c: not c.get("public") and
                                    HOOK_MARKER in str(c.get("body") or ""))
            for follow_up in item.follow_up_ids:
                if follow_up.isdigit():
                    redacted += _redact(call, tickets_api, int(follow_up), lambda c: True)
        except RecordRejected as exc:
            result.rejected[item.key] = str(exc)[:500]
            continue
        result.written.append(item.key)
    log.info("zendesk.quotes_erased", source=source, comments=redacted,
             rejected=len(result.rejected))
    return result


def _redact(call: CallFn, tickets_api: Any, ticket_id: int,
            wanted: Callable[[dict[str, Any]], bool]) -> int:
    """Redact the wanted comments of one ticket; 0 when the ticket is gone."""
    todo: list[tuple[int, str]] = []
    try:
        for page in pages(call, "ticket_comments", partial(tickets_api.comments,
                                                           ticket=ticket_id)):
            for comment in page:
                raw = comment.to_dict()
                html = redaction_html(str(raw.get("html_body") or ""))
                if html is not None and wanted(raw):
                    todo.append((int(raw["id"]), html))
    except RecordRejected as exc:
        if exc.status == 404:
            return 0  # deleted since: nothing quotes anyone there any more
        raise
    done = 0
    for comment_id, html in todo:
        url = tickets_api._build_url(_REDACTIONS(comment_id))
        try:
            call("comment_redactions", partial(tickets_api._put, url,
                                               {"ticket_id": ticket_id, "html_body": html}))
        except RecordRejected as exc:
            if exc.status != 404:
                raise
            continue  # deleted meanwhile
        done += 1
    return done
