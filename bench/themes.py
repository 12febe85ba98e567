"""Benchmark: precision and recall of comment theme assignment on the labelled set.

Runs the built-in dictionary (no config overrides) over the labelled sets in
bench/themes_eval/ and prints micro and macro precision and recall overall, per language and
per theme, each with what it divides by: comments.jsonl (311 comments; the dictionary was
revised after a first run on it) and heldout.jsonl (100 comments written later and never
used to revise anything: the honest figure). `--misses` lists every comment whose theme set
was not exactly right (read those of the development set only, or the held-out set stops
being one).

    python bench/themes.py [--set FILE] [--misses] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from closedloop.daemon.insight.themes.dictionary import default_themes
from closedloop.daemon.insight.themes.evaluation import Counts, evaluate, load_set
from closedloop.daemon.insight.themes.matcher import ThemeMatcher

HERE = Path(__file__).resolve().parent / "themes_eval"
SETS = (("development set", HERE / "comments.jsonl"), ("held-out set", HERE / "heldout.jsonl"))


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{100 * value:5.1f}"


def _line(name: str, counts: Counts) -> str:
    return (f"{name:<16} precision {_pct(counts.precision)} % ({counts.right}/{counts.assigned} "
            f"assigned)   recall {_pct(counts.recall)} % ({counts.right}/{counts.labelled} "
            f"labelled)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=None, help="one set instead of both")
    parser.add_argument("--misses", action="store_true", help="list the comments got wrong")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sets = SETS if args.set is None else (("set", args.set),)
    for number, (title, path) in enumerate(sets):
        if number and not args.json:
            print("\n" + "=" * 78 + "\n")
        report(title, path, args.misses, args.json)


def report(title: str, path: Path, misses: bool, as_json: bool) -> None:
    matcher = ThemeMatcher(default_themes())
    labelled = load_set(path)
    scores = evaluate(matcher, labelled)
    macro_p, macro_r = scores.macro()
    if as_json:
        def as_dict(c: Counts) -> dict[str, object]:
            return {"precision": c.precision, "recall": c.recall, "assigned": c.assigned,
                    "labelled": c.labelled, "right": c.right}
        print(json.dumps({
            "set": path.name, "comments": scores.comments, "exact": scores.exact,
            "micro": as_dict(scores.overall), "macro": {"precision": macro_p, "recall": macro_r},
            "languages": {k: as_dict(v) for k, v in sorted(scores.by_language.items())},
            "themes": {k: as_dict(v) for k, v in sorted(scores.by_theme.items())},
        }, indent=2))
        return
    print(f"{title}: {scores.comments} labelled comments ({path.name}), "
          f"{len(matcher.names)} built-in themes")
    print("micro: (comment, theme) pairs; precision = right / assigned, "
          "recall = right / labelled")
    print(_line("overall (micro)", scores.overall))
    print(f"{'overall (macro)':<16} precision {_pct(macro_p)} % (mean of themes assigned)   "
          f"recall {_pct(macro_r)} % (mean of themes labelled)")
    print(f"{'exact sets':<16} {scores.exact}/{scores.comments} comments "
          f"({_pct(scores.exact / scores.comments if scores.comments else None)} %)")
    print("\nper language (micro)")
    for lang, counts in sorted(scores.by_language.items()):
        print(_line(lang, counts))
    print("\nper theme")
    for theme in matcher.names:
        if theme in scores.by_theme:
            print(_line(theme, scores.by_theme[theme]))
    if misses:
        print("\nnot exactly right (labelled -> assigned)")
        for item, got in scores.misses:
            print(f"{item.id}: {item.text!r}: {sorted(item.themes)} -> {list(got)}")


if __name__ == "__main__":
    sys.exit(main())
