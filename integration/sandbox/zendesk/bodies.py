"""Request bodies the write endpoints share: the enveloped object, update_many items,
and the update_many job whose results say, per record, Updated or why not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ApiError, invalid_value, too_many_values
from .paging import MAX_IDS, ids_param
from .routing import Context, Request, Response


def enveloped(req: Request, key: str) -> Any:
    if not isinstance(req.body, dict) or key not in req.body:
        raise invalid_value(f"The request body needs a {key!r} object")
    return req.body[key]


def many_changes(req: Request, kind: str) -> list[tuple[int, Any]]:
    """(id, change) pairs of an update_many body (400 when malformed, TooManyValues > 100)."""
    plural = f"{kind}s"
    if req.arg("ids") is not None:
        change = enveloped(req, kind)
        return [(i, change) for i in ids_param(req)]
    items = enveloped(req, plural)
    if not isinstance(items, list) or not items:
        raise invalid_value(f"{plural} must be a non-empty list")
    if len(items) > MAX_IDS:
        raise too_many_values(MAX_IDS, plural)
    out = []
    for item in items:
        ident = item.get("id") if isinstance(item, dict) else None
        if isinstance(ident, bool) or not isinstance(ident, int):
            raise invalid_value(f"every item of {plural} needs an integer id")
        out.append((ident, {k: v for k, v in item.items() if k != "id"}))
    return out


def job_failure(exc: ApiError, noun: str) -> tuple[str, str]:
    """A single-update refusal as a job result's (error, details)."""
    if exc.status == 404:
        return "RecordNotFound", f"{noun} not found"
    details = exc.body.get("details") or {}
    texts = [e["description"] for errs in details.values() for e in errs]
    return f"{noun}UpdateFailed", "; ".join(texts) or str(exc.body.get("description"))


def update_many_job(ctx: Context, req: Request, kind: str,
                    apply: Callable[[Context, int, Any], object]) -> Response:
    """PUT {kind}s/update_many.json: `apply` each change on its own; a refused one is a
    failed result and leaves its record unchanged, the others are written."""
    noun = kind.capitalize()
    results = []
    for index, (rid, change) in enumerate(many_changes(req, kind)):
        try:
            apply(ctx, rid, change)
        except ApiError as exc:
            error, details = job_failure(exc, noun)
            results.append({"id": rid, "index": index, "error": error, "details": details,
                            "success": False})
            continue
        results.append({"id": rid, "index": index, "action": "update", "status": "Updated",
                        "success": True})
    return Response(200, {"job_status": ctx.jobs.submit(results, req.base_url)})
