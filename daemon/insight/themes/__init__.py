"""Comment themes: what customers write about, in en, fr, nb, de and es, computed locally.

A built-in dictionary (data/themes.toml) and the config's `[themes]` name the themes and
their synonyms per language; `ThemeMatcher` assigns them to a comment from Snowball stems,
stop words and negation cues shipped with the package (no hosted service, no model). The
assignments are stored per response (`response_themes`, kept current by `refresh_themes`), so
reports count rows. The API the report command and the dashboard call:

    refresh_themes(store, matcher, now, reporting=None) -> RefreshResult
        assign the responses changed since the last run (cursor in `cursors`); with the
        reporting settings, keep the theme rollups (rollups.py) too
    theme_report(store, *, since, until, programs=None, scope=None, limit=20,
                 themes=(), sort="count", settings=None, viewer=None, filters=None)
        -> list[ThemeRow]
        dictionary themes answered in [since, until): count, share of the answers with a
        comment, unhappy share and lift, the previous period, up to three quotes. `scope`
        maps a sends column (team_id, pipeline, owner_id, ...) to the values allowed; it is
        part of the SQL, so a scoped caller never counts other segments' answers; so is
        `viewer` (the dashboard's Scope, custom segments included) with `settings`, which
        also lets whole weeks or months be read from the theme rollups (fast.py).
    discover_themes(store, matcher, *, since, until, programs=None, scope=None, limit=10)
        -> Discovery: frequent words and pairs no theme matched (candidates for [themes])

`ThemeSettings.matcher()` builds the matcher of a config; `bench/themes.py` measures it.
"""

from closedloop.daemon.insight.themes.assign import RefreshResult, refresh_themes
from closedloop.daemon.insight.themes.dictionary import Theme, default_themes
from closedloop.daemon.insight.themes.discover import Discovery, discover_themes
from closedloop.daemon.insight.themes.matcher import ThemeMatcher
from closedloop.daemon.insight.themes.report import (
    Quote,
    ThemeRow,
    UnknownSegment,
    theme_report,
)

__all__ = [
    "Discovery",
    "Quote",
    "RefreshResult",
    "Theme",
    "ThemeMatcher",
    "ThemeRow",
    "UnknownSegment",
    "default_themes",
    "discover_themes",
    "refresh_themes",
    "theme_report",
]
