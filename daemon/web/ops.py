"""The operator's routes: /healthz (alive), /readyz (ready, with each source's state), /metrics.

Kept apart from the survey pages: these answer JSON or the Prometheus text format, never a
localized page, and read only the store and the metrics registry. Only /r, /c, /t, /u (and
/hooks/ with CRM notifications) need to be public: keep these three behind the reverse proxy
(see the README).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from closedloop.daemon.logging import get_logger
from closedloop.daemon.metrics import Metrics
from closedloop.daemon.store import Store

log = get_logger(component="web")


def ops_router(store: Store, metrics: Metrics | None = None,
               sources: Sequence[str] = ()) -> APIRouter:
    """The three routes over `store`; `sources` are the configured ones /readyz reports.

    Without `metrics`, /metrics serves what the store knows (no process counters).
    """
    registry = metrics or Metrics(store, sources=sources)
    names = tuple(sources)
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> Response:
        """Alive: 200 as long as the process serves requests (restart it when not)."""
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    def readyz() -> Response:
        """Ready: the store answers and no source is paused; 503 otherwise, naming why."""
        try:
            store.ping()
            states = store.source_states(names)
        except SQLAlchemyError as exc:
            log.warning("web.health_db_down", error=type(exc).__name__)
            return JSONResponse({"status": "unavailable", "store": "down", "sources": {}},
                                status_code=503)
        shown = {name: states[name] for name in names} if names else states
        ready = all(state.healthy for state in shown.values())
        body = {
            "status": "ready" if ready else "unavailable",
            "store": "ok",
            "sources": {name: {"state": s.state, "healthy": s.healthy,
                               "since": s.since.isoformat() if s.since else None,
                               "next_check_at": s.next_check_at.isoformat()
                               if s.next_check_at else None}
                        for name, s in sorted(shown.items())},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    def prometheus() -> Response:
        """The Prometheus text exposition format."""
        return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
