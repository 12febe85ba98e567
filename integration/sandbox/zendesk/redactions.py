"""PUT comment_redactions/{ticket_comment_id}: "Redact Ticket Comment In Agent Workspace".

The body names the ticket and gives the comment's `html_body` with the text to remove
wrapped in ``<redact>`` tags; each redacted character becomes ▇ and the answer is the
comment. Unlike the older tickets/{id}/comments/{id}/redact.json, this one also works on
closed tickets, which is why ClosedLoop uses it: surveys follow solved tickets, and they
close days later. The sandbox insists that the html_body minus the tags is the comment's
current html_body (a redaction of another text would redact nothing); that 422 and its
wording are the sandbox's, Zendesk's exact answer there is unverified.
"""

from __future__ import annotations

import re
from typing import Any, Final

from .errors import invalid_value, not_found, record_invalid
from .records import comment_json
from .routing import Context, Request, Response
from .values import parse_id

BLOCK: Final = "▇"
_REDACT = re.compile(r"<redact>(.*?)</redact>", re.S)


def _redacted(html: str) -> tuple[str, str]:
    """(html without the tags, html with each wrapped character turned to ▇)."""
    plain = _REDACT.sub(lambda m: m[1], html)
    blocked = _REDACT.sub(lambda m: BLOCK * len(m[1]), html)
    return plain, blocked


def comment_redaction(ctx: Context, req: Request) -> Response:
    comment_id = parse_id(req.params["id"])
    body = req.body if isinstance(req.body, dict) else {}
    ticket_id, html = body.get("ticket_id"), body.get("html_body")
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int):
        raise invalid_value("ticket_id is required and must be a ticket id")
    if not isinstance(html, str):
        raise invalid_value("html_body is required")
    with ctx.state.lock:
        ticket = ctx.state.tickets.get(ticket_id)
        if ticket is None or ticket.status == "deleted" or comment_id is None:
            raise not_found()
        comment = next((c for c in ticket.comments if c["id"] == comment_id), None)
        if comment is None:
            raise not_found()
        plain, blocked = _redacted(html)
        if plain != comment_json(comment)["html_body"]:
            raise record_invalid("html_body", "html_body must be the comment's html_body "
                                 "with the text to redact wrapped in <redact> tags")
        comment["body"] = blocked.removeprefix("<p>").removesuffix("</p>")
        answer: dict[str, Any] = comment_json(comment)
    return Response(200, {"comment": answer})
