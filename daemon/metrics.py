"""Prometheus metrics for /metrics, in a registry of the daemon's own (never the global one).

Two kinds, so nothing drifts:
- what the store knows (surveys by status, skips by reason, answers, suppressions, the
  write-back queue and its oldest row, each source's health) is read from the store at
  scrape time by `StoreCollector`: every replica reports the same truth, and a restart
  loses nothing;
- what only this process sees (CRM calls and 429s, job durations and failures, SMTP
  outcomes) is counted here. CRM calls are the adapters' own per-endpoint counters, read at
  scrape time: adapters count every attempt where they make it and import nothing of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from closedloop.daemon.delivery.smtp import (
    MailAbandoned,
    MailAuthError,
    MailConnectionLost,
    MailOutcomeUnknown,
    MailPermanentError,
    MailTemporaryError,
    MailUnavailable,
)
from closedloop.daemon.jobs.dispatch import Mailer, MailSession
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.sms import sms_counts
from closedloop.integration.pacing import PacingStats

SMTP_OUTCOMES = ("delivered", "refused", "deferred", "unavailable", "auth_failed",
                 "outcome_unknown", "failed")
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
QUEUES = ("contacts", "hooks")


@runtime_checkable
class CallCounting(Protocol):
    """What an adapter that counts its own calls offers (both bundled adapters do)."""

    def calls_by_endpoint(self) -> dict[str, int]: ...
    def rate_limited_by_endpoint(self) -> dict[str, int]: ...


@runtime_checkable
class Paced(Protocol):
    """An adapter whose requests go through a pacer (integration/pacing)."""

    def pacing_stats(self) -> PacingStats | None: ...


PACING = (("requests", "CRM requests the pacer let out"),
          ("waits", "requests that waited for room in the CRM's rate window"),
          ("wait_seconds", "seconds requests waited for the CRM's rate window"),
          ("throttled", "calls not sent: the window had no room within the retry budget, "
                        "the work was left for a later run"))


class StoreCollector(Collector):
    """Reads the store and the adapters' counters on every scrape."""

    def __init__(self, store: Store, adapters: Mapping[str, object],
                 clock: Callable[[], datetime], sources: Sequence[str]) -> None:
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.sources = tuple(sources)

    def collect(self) -> Iterator[Metric]:
        yield from self._crm()
        try:
            families = list(self._store(self.clock()))
        except SQLAlchemyError as exc:
            get_logger(component="metrics").warning("metrics.store_down",
                                                    error=type(exc).__name__)
            families = []
        yield GaugeMetricFamily("closedloop_store_up",
                                "1 when the state database answered this scrape, else 0",
                                value=1 if families else 0)
        yield from families

    def _store(self, now: datetime) -> Iterator[Metric]:
        with reading(self.store.engine) as conn:
            sends = self.store.send_counts(conn)
            answers = self.store.answer_counts(conn)
            suppressed = self.store.suppression_counts(conn, now)
            texts = sms_counts(conn)
        yield from _sms(texts)
        queues = self.store.writeback_queues()
        states = self.store.source_states(self.sources)
        yield _gauge("closedloop_surveys", "Outbox rows (surveys and reminders) by status",
                     "status", _prefixed(sends, "sends."))
        yield _gauge("closedloop_surveys_skipped", "Outbox rows skipped, by reason",
                     "reason", _prefixed(sends, "skipped."))
        yield GaugeMetricFamily("closedloop_answers", "Stored answers (responses)",
                                value=answers.get("responses", 0))
        yield _gauge("closedloop_suppressions", "Addresses suppressed now, by reason",
                     "reason", _prefixed(suppressed, "suppressions."))
        depth = GaugeMetricFamily("closedloop_writeback_queue_depth",
                                  "Write-back rows waiting for the CRM",
                                  labels=["source", "queue"])
        age = GaugeMetricFamily("closedloop_writeback_oldest_pending_age_seconds",
                                "Age of the oldest write-back row waiting (0 when none)",
                                labels=["source", "queue"])
        found = {(q.source, q.queue): q for q in queues}
        for key in sorted({*found, *((s, q) for s in self.sources for q in QUEUES)}):
            stat = found.get(key)
            depth.add_metric(list(key), stat.pending if stat else 0)
            age.add_metric(list(key), max((now - stat.oldest).total_seconds(), 0.0)
                           if stat else 0.0)
        yield depth
        yield age
        healthy = GaugeMetricFamily("closedloop_source_healthy",
                                    "0 while a source is paused (its token was refused)",
                                    labels=["source"])
        state = GaugeMetricFamily("closedloop_source_state",
                                  "1 for the state each source is in (ok, failing, paused)",
                                  labels=["source", "state"])
        for name, source_state in sorted(states.items()):
            healthy.add_metric([name], 1 if source_state.healthy else 0)
            state.add_metric([name, source_state.state], 1)
        yield healthy
        yield state

    def _crm(self) -> Iterator[Metric]:
        calls = CounterMetricFamily("closedloop_crm_calls",
                                    "CRM API requests by source and endpoint, retries included",
                                    labels=["source", "endpoint"])
        limited = CounterMetricFamily("closedloop_crm_rate_limited",
                                      "CRM answers 429 (rate limited) by source and endpoint",
                                      labels=["source", "endpoint"])
        for name, adapter in sorted(self.adapters.items()):
            if not isinstance(adapter, CallCounting):
                continue
            for endpoint, count in sorted(adapter.calls_by_endpoint().items()):
                calls.add_metric([name, endpoint], count)
            for endpoint, count in sorted(adapter.rate_limited_by_endpoint().items()):
                limited.add_metric([name, endpoint], count)
        yield calls
        yield limited
        families = {name: CounterMetricFamily(f"closedloop_crm_pacing_{name}", text,
                                              labels=["source"]) for name, text in PACING}
        for name, adapter in sorted(self.adapters.items()):
            stats = adapter.pacing_stats() if isinstance(adapter, Paced) else None
            if stats is None:
                continue
            for key, value in (("requests", stats.requests), ("waits", stats.waits),
                               ("wait_seconds", stats.waited_seconds),
                               ("throttled", stats.throttled)):
                families[key].add_metric([name], value)
        yield from families.values()


class Metrics:
    """The daemon's metrics: one registry per runtime (per web app), so tests never collide."""

    def __init__(self, store: Store, adapters: Mapping[str, object] | None = None,
                 clock: Callable[[], datetime] | None = None,
                 sources: Sequence[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.job_seconds = Histogram(
            "closedloop_job_duration_seconds", "How long each scheduled job run took",
            ["job"], registry=self.registry, buckets=JOB_BUCKETS)
        self.job_failures = Counter(
            "closedloop_job_failures", "Job runs that failed; source is empty for a job that "
            "crashed as a whole", ["job", "source"], registry=self.registry)
        self.smtp = Counter("closedloop_smtp_messages", "Survey mails handed to the relay, "
                            "by outcome", ["outcome"], registry=self.registry)
        for outcome in SMTP_OUTCOMES:
            self.smtp.labels(outcome)
        self.registry.register(StoreCollector(store, adapters or {}, clock or _utcnow, sources))

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)

    @contextmanager
    def timed(self, job: str) -> Iterator[None]:
        """Time one job run; an exception counts as a failure of the whole job."""
        with self.job_seconds.labels(job).time():
            try:
                yield
            except Exception:
                self.job_failures.labels(job, "").inc()
                raise

    def source_failed(self, job: str, source: str) -> None:
        self.job_failures.labels(job, source).inc()

    def mail_outcome(self, outcome: str) -> None:
        self.smtp.labels(outcome).inc()


def smtp_outcome(exc: BaseException) -> str:
    """The outcome label of a failed send (subclasses before their bases)."""
    for kind, outcome in ((MailOutcomeUnknown, "outcome_unknown"),
                          (MailPermanentError, "refused"), (MailAuthError, "auth_failed"),
                          (MailUnavailable, "unavailable"), (MailConnectionLost, "cut_retried"),
                          (MailAbandoned, "abandoned"), (MailTemporaryError, "deferred")):
        if isinstance(exc, kind):
            return outcome
    return "failed"


class CountingMailer:
    """A mailer whose sessions count each send's outcome; everything else passes through."""

    def __init__(self, mailer: Mailer, metrics: Metrics) -> None:
        self._mailer = mailer
        self._metrics = metrics

    @contextmanager
    def session(self) -> Iterator[MailSession]:
        with self._mailer.session() as inner:
            yield _CountingSession(inner, self._metrics)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mailer, name)


class _CountingSession:
    def __init__(self, inner: MailSession, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def open(self) -> None:
        self._inner.open()

    def send(self, msg: EmailMessage,
             before_end_of_data: Callable[[], bool] | None = None) -> None:
        try:
            self._inner.send(msg, before_end_of_data)
        except Exception as exc:
            self._metrics.mail_outcome(smtp_outcome(exc))
            raise
        self._metrics.mail_outcome("delivered")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _gauge(name: str, documentation: str, label: str, values: Mapping[str, int]
           ) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _sms(counts: Mapping[str, int]) -> Iterator[Metric]:
    """The SMS channel's figures (status's `sms.*`); no samples while no text was sent."""
    yield _gauge("closedloop_sms_texts", "Survey texts handed to Twilio, by outcome "
                 "(sent, outcome_unknown)", "status",
                 {k: v for k, v in _prefixed(counts, "sms.").items()
                  if k in ("sent", "outcome_unknown")})
    segments = GaugeMetricFamily("closedloop_sms_segments_sent",
                                 "SMS segments the sent texts cost (what Twilio bills)")
    if counts:
        segments.add_metric([], counts.get("sms.segments_sent", 0))
    yield segments
    yield _gauge("closedloop_sms_deliveries", "Texts by the last delivery status Twilio "
                 "called back", "status", _prefixed(counts, "sms.delivery."))
    yield _gauge("closedloop_sms_replies", "Texts received, by what they meant", "outcome",
                 _prefixed(counts, "sms.replies."))


def _prefixed(counts: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in counts.items() if k.startswith(prefix)}
