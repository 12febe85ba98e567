"""Precision and recall of theme assignment against a labelled set (bench/themes.py).

Micro figures count (comment, theme) pairs: precision = right pairs / pairs assigned,
recall = right pairs / pairs labelled. Macro figures average each theme's precision (over
themes that were assigned at least once) and recall (over themes labelled at least once).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from closedloop.daemon.insight.themes.matcher import ThemeMatcher


@dataclass(frozen=True)
class Labelled:
    id: str
    language: str
    text: str
    themes: frozenset[str]


@dataclass
class Counts:
    """Pairs assigned, labelled and right, for one slice (a language, a theme, or all)."""

    assigned: int = 0
    labelled: int = 0
    right: int = 0

    @property
    def precision(self) -> float | None:
        return self.right / self.assigned if self.assigned else None

    @property
    def recall(self) -> float | None:
        return self.right / self.labelled if self.labelled else None


@dataclass
class Scores:
    comments: int = 0
    exact: int = 0  # comments whose theme set was exactly right
    overall: Counts = field(default_factory=Counts)
    by_language: dict[str, Counts] = field(default_factory=dict)
    by_theme: dict[str, Counts] = field(default_factory=dict)
    misses: list[tuple[Labelled, tuple[str, ...]]] = field(default_factory=list)

    def macro(self) -> tuple[float | None, float | None]:
        """(mean precision of themes assigned at least once, mean recall of themes labelled)."""
        precisions = [c.precision for c in self.by_theme.values() if c.precision is not None]
        recalls = [c.recall for c in self.by_theme.values() if c.recall is not None]
        return (sum(precisions) / len(precisions) if precisions else None,
                sum(recalls) / len(recalls) if recalls else None)


def load_set(path: Path) -> list[Labelled]:
    """Read a JSON Lines set (id, language, text, themes)."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(Labelled(id=str(row["id"]), language=str(row["language"]),
                                text=str(row["text"]), themes=frozenset(row["themes"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a labelled comment ({exc})") from None
    return out


def evaluate(matcher: ThemeMatcher, labelled: Iterable[Labelled],
             themes: Sequence[str] | None = None) -> Scores:
    """Score the matcher on the set; `themes` limits the count to these names."""
    scores = Scores()
    names = set(themes) if themes is not None else set(matcher.names)
    for item in labelled:
        got = frozenset(t for t in matcher.assign(item.text, item.language) if t in names)
        want = frozenset(t for t in item.themes if t in names)
        scores.comments += 1
        scores.exact += got == want
        if got != want:
            scores.misses.append((item, tuple(sorted(got))))
        for slice_ in (scores.overall, scores.by_language.setdefault(item.language, Counts())):
            _add(slice_, got, want)
        for theme in got | want:
            _add(scores.by_theme.setdefault(theme, Counts()), got & {theme}, want & {theme})
    return scores


def _add(counts: Counts, got: frozenset[str], want: frozenset[str]) -> None:
    counts.assigned += len(got)
    counts.labelled += len(want)
    counts.right += len(got & want)
