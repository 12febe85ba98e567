"""The themes panel: the comment themes (insight/themes, stored per answer in
`response_themes`) counted under the viewer's scope.

The themes room's `theme_report` takes its scope as sends columns; a dashboard scope names
segments, custom ones (kept in `sends.segments`) included. So the panel counts the stored
themes itself with insight's `restriction` in the WHERE clause, the same clause every other
dashboard query uses: a store manager never counts another store's comments.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select

from closedloop.daemon.insight.dimensions import RESPONSES, SENDS, program_clause, restriction
from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import to_db
from closedloop.daemon.store.tables import Base
from closedloop.daemon.web.admin.params import View

LOW = ("detractor", "unsatisfied", "difficult")
QUOTES = 3


@dataclass(frozen=True)
class ThemeLine:
    theme: str
    label: str
    count: int
    share: float | None  # % of the answers with a comment
    low_share: float | None  # % of this theme's answers that are unhappy
    quotes: tuple[str, ...]


def available() -> bool:
    """Whether the themes room is installed (its table and its dictionary)."""
    return "response_themes" in Base.metadata.tables and _labels() is not None


def _labels() -> dict[str, str] | None:
    try:
        module = importlib.import_module("closedloop.daemon.insight.themes")
    except ImportError:
        return None
    themes: Any = getattr(module, "default_themes", lambda: ())()
    return {t.name: t.label for t in themes}


def _where(settings: ReportingSettings, view: View, scope: Scope) -> ColumnElement[bool]:
    zone = ZoneInfo(settings.timezone)
    start = datetime.combine(view.since, datetime.min.time(), zone)
    end = datetime.combine(view.until + timedelta(days=1), datetime.min.time(), zone)
    return and_(RESPONSES.c.answered_at >= to_db(start), RESPONSES.c.answered_at < to_db(end),
                program_clause(view.programs),
                restriction(settings, scope.allowed, view.filters))


def scoped_themes(store: Store, settings: ReportingSettings, view: View, scope: Scope,
                  limit: int = 20) -> list[ThemeLine]:
    themes_table = Base.metadata.tables["response_themes"]
    where = _where(settings, view, scope)
    low = func.sum(case((RESPONSES.c.category.in_(LOW), 1), else_=0))
    joined = RESPONSES.join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
    commented = and_(RESPONSES.c.comment.is_not(None), RESPONSES.c.comment != "")
    counts = (select(themes_table.c.theme, func.count(), low)
              .select_from(themes_table.join(RESPONSES,
                                             RESPONSES.c.id == themes_table.c.response_id)
                           .join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
              .where(where).group_by(themes_table.c.theme)
              .order_by(func.count().desc(), themes_table.c.theme).limit(limit))
    with reading(store.engine) as conn:
        rows = conn.execute(counts).all()
        if not rows:  # nothing to share out: spare the count of every comment
            return []
        base = int(conn.scalar(select(func.count()).select_from(joined)
                               .where(where, commented)) or 0)
        lines = []
        labels = _labels() or {}
        for theme, count, lows in rows:
            quotes = conn.scalars(
                select(RESPONSES.c.comment)
                .select_from(themes_table.join(RESPONSES,
                                               RESPONSES.c.id == themes_table.c.response_id)
                             .join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
                .where(where, themes_table.c.theme == theme)
                .order_by(case((RESPONSES.c.category.in_(LOW), 0), else_=1),
                          RESPONSES.c.answered_at.desc())
                .limit(QUOTES)).all()
            lines.append(ThemeLine(
                theme=theme, label=labels.get(theme, theme), count=int(count),
                share=100 * count / base if base else None,
                low_share=100 * int(lows or 0) / count if count else None,
                quotes=tuple(q for q in quotes if q)))
    return lines
