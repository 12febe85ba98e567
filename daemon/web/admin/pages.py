"""The report pages, their JSON data endpoints and CSV downloads, all behind a session.

Every handler reads the viewer first, turns the query string into a `View`, refuses filter
values outside the viewer's scope (403, logged) and passes the scope into every query, so
the SQL itself keeps other stores' answers out: of the page, of `/data/*.json` behind its
charts and of `/export/*.csv`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request, Response

from closedloop.daemon.insight.report import CommentRow, segment_values
from closedloop.daemon.logging import get_logger
from closedloop.daemon.web.admin import data, themes
from closedloop.daemon.web.admin.answer import OutOfScope, read_answer
from closedloop.daemon.web.admin.app import Admin, Viewer
from closedloop.daemon.web.admin.charts import Series, bar_chart, line_chart
from closedloop.daemon.web.admin.params import (
    CATEGORIES,
    PERIODS,
    SURVEY_TYPES,
    BadRequest,
    View,
    read_view,
    segment_names,
)
from closedloop.daemon.web.admin.render import HEADERS, error, render
from closedloop.daemon.web.admin.scope import ScopeEscape, check_filters
from closedloop.daemon.web.admin.settings import describe_scope

log = get_logger(component="admin")
DATASETS = ("trend", "segments", "distribution", "comments")



class Pages:
    def __init__(self, admin: Admin) -> None:
        self.admin = admin

    # -- shared --------------------------------------------------------------------------

    def today(self) -> date:
        return self.admin.clock().astimezone(ZoneInfo(self.admin.settings.timezone)).date()

    def levels(self) -> tuple[str, ...]:
        return self.admin.settings.scope

    def default_segment(self, viewer: Viewer) -> str:
        """The level under the viewer's own (region -> store), else the first level, else
        program."""
        levels = self.levels()
        own = next(iter(viewer.scope.allowed), None)
        if own in levels:
            index = levels.index(own)
            return levels[index + 1] if index + 1 < len(levels) else own
        return levels[0] if levels else "program"

    def view(self, request: Request, viewer: Viewer) -> View:
        params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, []).append(value)
        view = read_view(params, self.admin.settings, self.today(),
                         default_segment=self.default_segment(viewer))
        try:
            check_filters(view.filters, viewer.scope, self.levels(), lambda level:
                          segment_values(self.admin.store, self.admin.settings, level,
                                         viewer.scope))
        except ScopeEscape as exc:
            log.warning("admin.scope_escape", user=viewer.user.name, segment=exc.segment,
                        value=exc.value, path=request.url.path)
            raise
        return view

    def pickers(self, viewer: Viewer) -> dict[str, list[str]]:
        """The values of each hierarchy level the viewer may pick from."""
        return {level: segment_values(self.admin.store, self.admin.settings, level,
                                      viewer.scope) for level in self.levels()}

    def context(self, request: Request, viewer: Viewer, view: View, page: str) -> dict[str, Any]:
        params = [(k, v) for k, v in request.query_params.multi_items()]
        return {"base": self.admin.base(request), "viewer": viewer, "view": view, "page": page,
                "scope_text": describe_scope(viewer.user.scope), "params": params,
                "periods": PERIODS, "types": SURVEY_TYPES, "categories": CATEGORIES,
                "pickers": self.pickers(viewer), "levels": self.levels(),
                "programs": segment_values(self.admin.store, self.admin.settings, "program",
                                           viewer.scope)}

    def link(self, row: CommentRow) -> str | None:
        record = self.admin.record_link
        return record(row.source, row.ticket_id, row.contact_id) if record else None

    # -- datasets ------------------------------------------------------------------------

    def dataset(self, name: str, viewer: Viewer, view: View) -> tuple[str | None, data.Table]:
        store, settings, scope = self.admin.store, self.admin.settings, viewer.scope
        if name == "trend":
            return data.trend(store, settings, view, scope)
        if name == "segments":
            return data.segments(store, settings, view, scope, view.segment or "program")
        if name == "distribution":
            kind, _ = data.trend(store, settings, view, scope)
            return kind, data.score_distribution(store, settings, view, scope, kind)
        if name == "comments":
            return None, data.comments(store, settings, view, scope, self.link)
        raise BadRequest(f"unknown dataset {name[:40]!r}; expected one of: "
                         f"{', '.join(DATASETS)}")

    # -- pages ---------------------------------------------------------------------------

    def overview(self, request: Request, viewer: Viewer) -> Response:
        view = self.view(request, viewer)
        kind, trend = self.dataset("trend", viewer, view)
        assert kind is not None
        dist = data.score_distribution(self.admin.store, self.admin.settings, view,
                                       viewer.scope, kind)
        records = trend.records()
        labels = [r["period_start"] for r in records]
        low, high = data.SCALES[kind]
        score_chart = line_chart(f"{kind.upper()} score by {view.period}", labels,
                                 [Series(kind.upper(), [r["score"] for r in records])],
                                 low, high)
        rate_chart = line_chart(f"Response rate (%) by {view.period}", labels,
                                [Series("Response rate", [r["response_rate"]
                                                          for r in records])], 0, 100)
        dist_chart = bar_chart(f"{kind.upper()} answers by score",
                               [(str(s), n) for s, n in dist.rows])
        total = self._total(trend)
        return render("overview.html", kind=kind, trend=records, total=total,
                      score_chart=score_chart, rate_chart=rate_chart, dist_chart=dist_chart,
                      **self.context(request, viewer, view, "overview"))

    def _total(self, table: data.Table) -> dict[str, Any]:
        """The range's figures: each score is a mean over answers, so the answer-weighted
        mean of the periods' (unrounded) scores is the range's score."""
        column = {name: i for i, name in enumerate(table.columns)}
        answers = sum(row[column["answers"]] for row in table.rows)
        sent = sum(row[column["sent"]] for row in table.rows)
        scored = [(row[column["score"]], row[column["answers"]]) for row in table.rows
                  if row[column["score"]] is not None]
        weight = sum(n for _, n in scored)
        return {"answers": answers, "sent": sent,
                "score": sum(s * n for s, n in scored) / weight if weight else None,
                "small": answers < self.admin.settings.small_sample}

    def segments_page(self, request: Request, viewer: Viewer) -> Response:
        view = self.view(request, viewer)
        kind, table = self.dataset("segments", viewer, view)
        return render("segments.html", kind=kind, table=table,
                      segment_names=segment_names(self.admin.settings),
                      **self.context(request, viewer, view, "segments"))

    def comments_page(self, request: Request, viewer: Viewer) -> Response:
        view = self.view(request, viewer)
        _, table = self.dataset("comments", viewer, view)
        return render("comments.html", comments=table.records(), page_size=data.COMMENTS_PAGE,
                      **self.context(request, viewer, view, "comments"))

    def themes_page(self, request: Request, viewer: Viewer) -> Response:
        view = self.view(request, viewer)
        shown = themes.available()
        rows = (themes.scoped_themes(self.admin.store, self.admin.settings, view, viewer.scope)
                if shown else [])
        return render("themes.html", available=shown, rows=rows,
                      **self.context(request, viewer, view, "themes"))

    def answer_page(self, request: Request, viewer: Viewer, send_id: str) -> Response:
        base = self.admin.base(request)
        if not send_id.isdigit() or len(send_id) > 12:
            return error(404, "There is no such answer.", base)
        try:
            answer = read_answer(self.admin.store, self.admin.settings, int(send_id),
                                 viewer.scope)
        except OutOfScope:
            log.warning("admin.scope_escape", user=viewer.user.name, send_id=int(send_id),
                        path=request.url.path)
            return error(403, "This answer is outside what you may see.", base)
        if answer is None:
            return error(404, "There is no such answer.", base)
        record = self.admin.record_link
        url = record(answer.source, answer.ticket_id, answer.contact_id) if record else None
        return render("answer.html", answer=answer, crm_url=url, base=base, viewer=viewer,
                      page="comments", scope_text=describe_scope(viewer.user.scope))

    def data_endpoint(self, request: Request, viewer: Viewer, name: str) -> Response:
        view = self.view(request, viewer)
        kind, table = self.dataset(name, viewer, view)
        body = {"dataset": name, "survey_type": kind, "since": view.since.isoformat(),
                "until": view.until.isoformat(), "period": view.period,
                "rows": table.records()}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json",
                        headers=HEADERS)

    def export(self, request: Request, viewer: Viewer, name: str) -> Response:
        view = self.view(request, viewer)
        _, table = self.dataset(name, viewer, view)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(table.columns)
        for row in table.records():
            writer.writerow([_csv_cell(v) for v in row.values()])
        filename = f"closedloop-{name}-{view.since}-{view.until}.csv"
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={**HEADERS,
                                 "Content-Disposition": f'attachment; filename="{filename}"'})


def _csv_cell(value: Any) -> Any:
    """Neutralize a comment that a spreadsheet would run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if value is None:
        return ""
    return value


def add_pages(app: FastAPI, admin: Admin) -> None:
    """Every route reads the viewer first (no session: to the sign-in page)."""
    pages = Pages(admin)

    def page(handler: Callable[[Request, Viewer], Response]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            return handler(request, admin.viewer(request))
        return endpoint

    for path, handler in (("/", pages.overview), ("/segments", pages.segments_page),
                          ("/comments", pages.comments_page), ("/themes", pages.themes_page)):
        app.add_api_route(path, page(handler), methods=["GET"])

    @app.get("/answers/{send_id}")
    def answer(request: Request, send_id: str) -> Response:
        return pages.answer_page(request, admin.viewer(request), send_id)

    @app.get("/data/{name}.json")
    def data_json(request: Request, name: str) -> Response:
        return pages.data_endpoint(request, admin.viewer(request), name)

    @app.get("/export/{name}.csv")
    def export_csv(request: Request, name: str) -> Response:
        return pages.export(request, admin.viewer(request), name)
