"""The alerts job: evaluate rules into the queue, fold floods into digests, deliver.

- **Evaluate** (one replica at a time, under a job lock): read responses changed since the
  cursor, page by page; queue an alert per matching answer (key: rule + response, so a
  re-score or comment never fires a rule twice); then compute each rolling rule's figure
  per segment and queue a breach on ok → breached, a recovery on breached → ok. The cursor
  moves after a page's alerts are queued: a crash re-reads one page, and the keys dedupe.
- **Flood**: a rule that already queued `flood_max` alerts within `flood_window` holds the
  next ones; when the oldest held one is `flood_window` old they go out as one digest.
- **Deliver** (any replica): claim due rows with a lease, send each through its channel,
  retry what can succeed later with exponential backoff, dead-letter the rest. A failing
  channel never touches the write-back of answers: they are separate queues and jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from closedloop.daemon.actions.alerts.channels import Channel, ChannelError
from closedloop.daemon.actions.alerts.rules import answer_matches, rolling_verdicts
from closedloop.daemon.actions.alerts.settings import AlertSettings
from closedloop.daemon.backoff import doubling
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import AlertRow, AnswerRow, Store

PAGE = 500
BATCH = 50
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
# The daemon reads answers changed at least this long ago: a web worker stamps updated_at
# before its commit, so a younger row may still be joined by an older-stamped one that
# commits later, behind a cursor that already moved past it.
CURSOR_LAG = timedelta(seconds=5)


@dataclass
class AlertsResult:
    """One run: answers read, alerts queued (held in a flood), digests, deliveries."""

    answers: int = 0
    queued: int = 0
    held: int = 0
    digests: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: 30 s, 1 min, 2 min ... up to an hour."""
    return doubling(attempts, BACKOFF_FIRST, BACKOFF_MAX)


def evaluate_alerts(store: Store, rules: tuple[AlertSettings, ...], now: datetime,
                    result: AlertsResult | None = None,
                    lag: timedelta = timedelta(0)) -> AlertsResult:
    """Queue what the answers changed up to `now - lag` and the rolling figures call for."""
    result = result or AlertsResult()
    active = [r for r in rules if r.enabled]
    per_answer = [r for r in active if r.kind == "answer"]
    cursor = store.alert_cursor()
    while True:
        answers = store.answers_after(cursor, PAGE, until=now - lag)
        for answer in answers:
            for rule in per_answer:
                if answer_matches(rule, answer):
                    _queue(store, rule, f"{rule.name}:answer:{answer.response_id}", "answer",
                           None, {"rule": rule.name, "answer": answer_payload(answer)}, now,
                           result, send_id=answer.send_id)
        result.answers += len(answers)
        if answers:
            cursor = (answers[-1].updated_at, answers[-1].response_id)
            store.set_alert_cursor(cursor, now)
        if len(answers) < PAGE:
            break
    for rule in active:
        # A figure over the last N answers moves only with a new answer; a window also moves
        # with time, so those are computed every run.
        if rule.kind != "answer" and (rule.last is None or result.answers):
            _evaluate_rolling(store, rule, now, result)
    for rule in active:
        result.digests += bool(store.fold_digest(rule.name, rule.flood_window, now, digest))
    return result


def _evaluate_rolling(store: Store, rule: AlertSettings, now: datetime,
                      result: AlertsResult) -> None:
    states = store.alert_states(rule.name)
    for verdict in rolling_verdicts(rule, store, now):
        if verdict.breached is None or verdict.breached == states.get(verdict.segment, False):
            continue
        kind = "breach" if verdict.breached else "recovery"
        payload = {"rule": rule.name, "figure": rule.kind, "segment_by": rule.segment_by,
                   "segment": verdict.segment, "value": verdict.value,
                   "threshold": rule.threshold if rule.threshold is not None
                   else rule.window.days if rule.window else None,
                   "sample": verdict.sample, "previous": verdict.previous,
                   "at": now.isoformat()}
        _queue(store, rule, f"{rule.name}:{kind}:{verdict.segment}:{now.isoformat()}", kind,
               verdict.segment, payload, now, result)
        store.set_alert_state(rule.name, verdict.segment, verdict.breached, verdict.value, now)
        get_logger(job="alerts", rule=rule.name).info(f"alerts.{kind}", segment=verdict.segment,
                                                      value=verdict.value)


def _queue(store: Store, rule: AlertSettings, key: str, kind: str, segment: str | None,
           payload: dict[str, Any], now: datetime, result: AlertsResult,
           send_id: int | None = None) -> None:
    held = store.recent_alerts(rule.name, now - rule.flood_window) >= rule.flood_max
    if store.queue_alert(key, rule.name, kind, segment, payload, now, send_id=send_id,
                         held=held):
        result.queued += 1
        result.held += held


def answer_payload(answer: AnswerRow) -> dict[str, Any]:
    """What an answer alert says about the answer (the comment quotes the person)."""
    return {"response_id": answer.response_id, "program": answer.program,
            "survey_type": answer.survey_type, "score": answer.score,
            "category": answer.category, "comment": answer.comment,
            "answered_at": answer.answered_at.isoformat(), "source": answer.source,
            "ticket_id": answer.ticket_id, "contact_id": answer.contact_id,
            **{key: value for key, value in answer.fields.items() if key != "program"}}


def digest(rows: list[AlertRow]) -> dict[str, Any]:
    """A digest's payload: counts and one summary line per alert, no comment (a digest
    outlives `forget` of the people it counts, so it quotes nobody)."""
    events = []
    for row in rows:
        answer = row.payload.get("answer") or {}
        summary = (f"{answer.get('program')}: {answer.get('score')} ({answer.get('category')})"
                   if answer else f"{row.segment}: {row.payload.get('value')}")
        events.append({"id": row.id, "kind": row.kind, "segment": row.segment,
                       "summary": summary})
    return {"rule": rows[0].rule if rows else "", "count": len(rows), "events": events,
            "first_at": rows[0].created_at.isoformat() if rows else None}


def deliver_alerts(store: Store, channels: Mapping[str, Channel], now: datetime,
                   result: AlertsResult | None = None, limit: int = BATCH) -> AlertsResult:
    """Deliver the due alerts one claim at a time; failures are settled, never raised."""
    result = result or AlertsResult()
    # The lease outlasts a batch of the slowest channel timing out, so another replica
    # never claims (and sends again) a row this one is still delivering.
    slowest = max((c.timeout for c in channels.values()), default=0.0)
    token, rows = store.claim_alerts(now, limit, LEASE + limit * timedelta(seconds=slowest))
    for row in rows:
        log = get_logger(job="alerts", rule=row.rule, alert=row.id)
        channel = channels.get(row.rule)
        try:
            if channel is None:
                raise ChannelError("the rule is no longer configured", retryable=False)
            try:
                channel.deliver(row.id, row.kind, row.payload)
            except ChannelError:
                raise
            except Exception as exc:  # a bug or an odd library error: keep the row, retry
                raise ChannelError(f"{type(exc).__name__}: {exc}") from exc
        except ChannelError as exc:
            attempts = row.attempts + 1
            retry_at = now + backoff(attempts) if exc.retryable and attempts < MAX_ATTEMPTS \
                else None
            store.settle_alert(row.id, token, now, error=str(exc), retry_at=retry_at)
            if retry_at is None:
                result.dead += 1
                log.warning("alerts.dead", error=str(exc), attempts=attempts)
            else:
                result.retried += 1
                log.info("alerts.retry", error=str(exc), attempts=attempts,
                         retry_at=retry_at.isoformat())
            continue
        store.settle_alert(row.id, token, now)
        result.delivered += 1
    return result
