"""What an alert says, in the rule's language: a title and a few lines every channel shows.

The payload queued in the store is channel-agnostic data (the rule, the figure, the answer);
each channel turns `describe()`'s text into its own format at delivery time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from closedloop.daemon.i18n import N_, Translator, translator

FIGURES = {
    "csat_share": N_("CSAT share (%)"),
    "nps_drop": N_("NPS"),
    "response_rate": N_("Response rate (%)"),
    "no_answers": N_("Answers"),
}


@dataclass(frozen=True)
class AlertText:
    """A channel-neutral alert: `title`, then `lines`; `facts` as label/value pairs."""

    title: str
    lines: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]


def describe(kind: str, payload: dict[str, Any], language: str) -> AlertText:
    """The alert's text in `language` (negotiated down to a shipped catalog)."""
    tr = translator(language)
    rule = str(payload.get("rule", ""))
    if kind == "answer":
        return _answer(tr, rule, payload.get("answer") or {})
    if kind == "digest":
        count = int(payload.get("count", 0))
        title = tr.gettext("%(count)s alerts from %(rule)s", count=count, rule=rule)
        lines = (tr.gettext("Too many alerts at once: they are folded into this digest."),)
        facts = tuple((str(e.get("kind", "")), str(e.get("summary", "")))
                      for e in payload.get("events", [])[:20])
        return AlertText(title, lines, facts)
    if kind == "test":
        return AlertText(tr.gettext("Test alert from %(rule)s", rule=rule),
                         (tr.gettext("This is a test: the channel works."),), ())
    figure = tr.gettext(FIGURES.get(str(payload.get("figure")), N_("Figure")))
    segment = str(payload.get("segment") or "")
    where = f"{payload.get('segment_by')} {segment}" if payload.get("segment_by") \
        else tr.gettext("all answers")
    values = {"figure": figure, "where": where, "value": _num(payload.get("value")),
              "threshold": _num(payload.get("threshold")), "rule": rule}
    if kind == "recovery":
        title = tr.gettext("Recovered: %(rule)s", rule=rule)
        line = tr.gettext("%(figure)s is back to %(value)s for %(where)s (threshold "
                          "%(threshold)s).", **values)
    else:
        title = tr.gettext("Alert: %(rule)s", rule=rule)
        line = tr.gettext("%(figure)s is %(value)s for %(where)s (threshold %(threshold)s).",
                          **values)
    rows = [(tr.gettext("Sample"), str(payload.get("sample", "")))]
    if payload.get("previous") is not None:
        rows.append((tr.gettext("Previous period"), _num(payload.get("previous"))))
    return AlertText(title, (line,), tuple(rows))


def _answer(tr: Translator, rule: str, answer: dict[str, Any]) -> AlertText:
    title = tr.gettext("Alert: %(rule)s", rule=rule)
    line = tr.gettext("New answer to %(program)s: %(score)s (%(category)s)",
                      program=answer.get("program", ""), score=answer.get("score", ""),
                      category=answer.get("category", ""))
    facts: list[tuple[str, str]] = []
    if answer.get("comment"):
        facts.append((tr.gettext("Comment"), str(answer["comment"])))
    if answer.get("ticket_id"):
        facts.append((tr.gettext("Ticket"), f"{answer.get('source')} #{answer['ticket_id']}"))
    for key in ("pipeline", "team_id", "owner_id"):
        if answer.get(key):
            facts.append((key.removesuffix("_id"), str(answer[key])))
    return AlertText(title, (line,), tuple(facts))


def _num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)
