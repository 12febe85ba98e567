"""The themes panel: the comment themes (insight/themes) under the viewer's scope.

`theme_report` takes the viewer's Scope (custom segments included) and the page's filters
into every query, so a store manager never counts or quotes another store's comments; the
page's range is whole weeks or months, which the theme rollups answer without reading the
answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes import theme_report
from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Base
from closedloop.daemon.web.admin.params import View


@dataclass(frozen=True)
class ThemeLine:
    theme: str
    label: str
    count: int
    share: float | None  # % of the answers with a comment
    low_share: float | None  # % of this theme's answers that are unhappy
    quotes: tuple[str, ...]


def available() -> bool:
    """Whether the stored themes table exists in this schema."""
    return "response_themes" in Base.metadata.tables


def scoped_themes(store: Store, settings: ReportingSettings, view: View, scope: Scope,
                  limit: int = 20) -> list[ThemeLine]:
    zone = ZoneInfo(settings.timezone)
    start = datetime.combine(view.since, datetime.min.time(), zone)
    end = datetime.combine(view.until + timedelta(days=1), datetime.min.time(), zone)
    rows = theme_report(store, since=start, until=end, programs=view.programs or None,
                        limit=limit, settings=settings, viewer=scope, filters=view.filters)
    return [ThemeLine(theme=r.theme, label=r.label, count=r.count,
                      share=None if r.share is None else 100 * r.share,
                      low_share=None if r.low_share is None else 100 * r.low_share,
                      quotes=tuple(q.text for q in r.quotes)) for r in rows]
