"""Benchmark: comment themes on many answers. Prints how fast answers are assigned their
themes (the one-time backfill, then incremental) and how long `theme_report` takes.

Builds N answers over 90 days in a fresh database (SQLite file, or a PostgreSQL schema with
--pg), comments drawn from the labelled sets with a varying tail word (so the vocabulary
keeps growing as real comments' does), 60 % of them with a comment; then times
`refresh_themes` over all of them and a 30-day `theme_report` (with and without a scope).

    python bench/themes_scale.py [--answers 200000] [--pg postgresql://.../db] [--seed 3]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import insert

from closedloop.daemon.insight.themes import (
    ThemeMatcher,
    default_themes,
    refresh_themes,
    theme_report,
)
from closedloop.daemon.logging import configure
from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Base

HERE = Path(__file__).resolve().parent / "themes_eval"
SENDS = Base.metadata.tables["sends"]
RESPONSES = Base.metadata.tables["responses"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
CATEGORY = {1: "unsatisfied", 2: "unsatisfied", 3: "unsatisfied", 4: "satisfied",
            5: "satisfied"}


def _pool() -> list[tuple[str, str]]:
    rows = []
    for name in ("comments.jsonl", "heldout.jsonl"):
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows.append((row["text"], row["language"]))
    return rows


def _fill(store: Store, answers: int, seed: int) -> None:
    rng = random.Random(seed)
    pool = _pool()
    batch = 10_000
    with store.engine.begin() as conn:
        for start in range(0, answers, batch):
            sends, responses = [], []
            for i in range(start, min(start + batch, answers)):
                at = NOW - timedelta(seconds=rng.randrange(90 * 86400))
                text, language = rng.choice(pool)
                score = rng.randint(1, 5)
                sends.append({"id": i + 1, "idem_key": f"k{i}", "program": "support-csat",
                              "survey_type": "csat", "source": "hubspot",
                              "contact_id": f"c{i}", "language": language,
                              "team_id": f"store-{rng.randrange(50)}", "created_at": at,
                              "due_at": at, "status": "sent", "kind": "survey",
                              "reminder_no": 0, "attempts": 0})
                comment = f"{text} #{rng.randrange(answers // 20 + 1)}" \
                    if rng.random() < 0.6 else None
                responses.append({"id": i + 1, "send_id": i + 1, "score": score,
                                  "comment": comment, "category": CATEGORY[score],
                                  "answered_at": at, "updated_at": at})
            conn.execute(insert(SENDS), sends)
            conn.execute(insert(RESPONSES), responses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--pg", help="a PostgreSQL URL (a schema of its own is made in it)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    configure("console", level=30)
    schema = None
    if args.pg:
        schema = f"themes_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in args.pg else "?"
        url = f"{args.pg}{sep}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/themes.db"
    store = Store(url)
    try:
        store.migrate()
        started = time.perf_counter()
        _fill(store, args.answers, args.seed)
        print(f"{args.answers} answers built in {time.perf_counter() - started:.1f} s "
              f"({store.engine.dialect.name})")
        matcher = ThemeMatcher(default_themes())
        started = time.perf_counter()
        result = refresh_themes(store, matcher, NOW + timedelta(minutes=1))
        took = time.perf_counter() - started
        print(f"refresh_themes (backfill): {result.responses} answers in {took:.1f} s = "
              f"{result.responses / took:.0f} answers/s ({result.themed} with a theme)")
        started = time.perf_counter()
        again = refresh_themes(store, matcher, NOW + timedelta(minutes=1))
        print(f"refresh_themes (nothing new): {again.responses} answers in "
              f"{time.perf_counter() - started:.3f} s")
        since = NOW - timedelta(days=30)
        for scope in (None, {"team_id": ["store-7"]}):
            started = time.perf_counter()
            rows = theme_report(store, since=since, until=NOW, scope=scope,
                                themes=matcher.themes)
            print(f"theme_report 30 days{' scoped to one store' if scope else ''}: "
                  f"{len(rows)} themes, base {rows[0].base if rows else 0} answers with a "
                  f"comment, in {time.perf_counter() - started:.2f} s")
    finally:
        store.dispose()
        if schema and args.pg:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
