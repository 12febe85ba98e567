"""The labelled evaluation set and its scoring: a regression of the built-in dictionary below
the floor fails here (bench/themes.py prints the full figures)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from closedloop.daemon.insight.themes import Theme, ThemeMatcher, default_themes
from closedloop.daemon.insight.themes.evaluation import Labelled, evaluate, load_set

SET = Path(__file__).resolve().parents[2] / "bench" / "themes_eval" / "comments.jsonl"
HELD_OUT = SET.with_name("heldout.jsonl")
FLOOR_PRECISION = 0.85
FLOOR_RECALL = 0.75


def test_the_set_is_large_varied_and_labelled_with_known_themes() -> None:
    """At least 300 comments, at least 60 per language, some about no theme, labels drawn
    from the built-in dictionary only."""
    labelled = load_set(SET)
    per_language = Counter(item.language for item in labelled)
    names = {t.name for t in default_themes()}
    assert len(labelled) >= 300
    assert min(per_language[lang] for lang in ("en", "fr", "nb", "de", "es")) >= 60
    assert sum(1 for item in labelled if not item.themes) >= 25
    assert {t for item in labelled for t in item.themes} <= names
    assert len({item.id for item in labelled}) == len(labelled)


def test_built_in_dictionary_stays_above_the_floor() -> None:
    """Micro precision >= 0.85 and recall >= 0.75 over the whole set, and no language
    below 0.8 / 0.7."""
    scores = evaluate(ThemeMatcher(default_themes()), load_set(SET))
    assert scores.overall.precision is not None
    assert scores.overall.recall is not None
    assert scores.overall.precision >= FLOOR_PRECISION
    assert scores.overall.recall >= FLOOR_RECALL
    for lang, counts in scores.by_language.items():
        assert (counts.precision or 0) >= 0.8, lang
        assert (counts.recall or 0) >= 0.7, lang


def test_held_out_set_stays_above_its_floor() -> None:
    """The 100 comments never used to revise the dictionary: precision >= 0.8, recall >= 0.7
    (measured 0.886 and 0.771 when the floor was set)."""
    scores = evaluate(ThemeMatcher(default_themes()), load_set(HELD_OUT))
    assert scores.comments == 100
    assert (scores.overall.precision or 0) >= 0.8
    assert (scores.overall.recall or 0) >= 0.7


def test_scoring_counts_pairs() -> None:
    """Micro figures divide right pairs by assigned and by labelled pairs; macro averages
    per theme; an exact set counts once."""
    matcher = ThemeMatcher([Theme("a", "a", {"en": ("apple",)}),
                            Theme("b", "b", {"en": ("banana",)})])
    items = [Labelled("1", "en", "apple", frozenset({"a"})),
             Labelled("2", "en", "apple banana", frozenset({"a"})),
             Labelled("3", "en", "cherry", frozenset({"b"}))]
    scores = evaluate(matcher, items)
    assert (scores.overall.assigned, scores.overall.labelled, scores.overall.right) == (3, 3, 2)
    assert (scores.exact, scores.by_theme["b"].precision, scores.by_theme["b"].recall) == (
        1, 0.0, 0.0)
    assert scores.macro() == (0.5, 0.5)


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"id": "1", "language": "en", "text": "x", "themes": []})
                    + "\n{\"id\": 2}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r":2: not a labelled comment") as caught:
        load_set(path)
    assert str(caught.value).startswith(f"{path}:2:")
