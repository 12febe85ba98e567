"""/metrics after a real small loop, for each CRM: scraped over HTTP, parsed as Prometheus does.

The loop is the real one (sandbox CRM over HTTP, SMTP sink, SQLite, the daemon's web app);
the exposition text is read back with prometheus_client's own parser, and each figure is
compared with what the loop did.
"""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from e2e_loop import Loop
from prometheus_client.parser import text_string_to_metric_families

from closedloop.daemon.metrics import Metrics

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(loop: Loop) -> Samples:
    """Every sample of GET /metrics, keyed by (name, sorted labels)."""
    answer = httpx.get(f"{loop.config.daemon.public_url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain;")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_report_the_loop(loop: Loop) -> None:
    """Surveys by status, skips by reason, answers, the write-back queue and its age, CRM calls
    and 429s per endpoint, job runs and SMTP outcomes are the loop's own figures."""
    source = loop.source
    loop.close_ticket("ada@example.com")
    loop.close_ticket("bea@example.com")
    loop.close_ticket("cem@example.com")
    loop.close_ticket(None, first="Nomail")
    assert loop.rt.poll()[source].queued == 3
    loop.clock.advance(timedelta(hours=1))
    loop.sink.refuse("cem@example.com")
    result = loop.rt.dispatch()
    assert (result.sent, result.failed) == (2, 1)

    body = loop.sink.messages[0].get_body(("plain",))
    assert body is not None
    links = {int(score): url for url, score in LINK.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        assert web.post(links[5]).status_code == 200
    loop.clock.advance(timedelta(minutes=3))

    before = scrape(loop)
    assert value(before, "closedloop_surveys", status="sent") == 2
    assert value(before, "closedloop_surveys", status="failed") == 1
    assert value(before, "closedloop_surveys_skipped", reason="no_email") == 1
    assert value(before, "closedloop_answers") == 1
    assert value(before, "closedloop_suppressions", reason="hard_bounce") == 1  # cem's 550
    assert value(before, "closedloop_suppressions", reason="unsubscribed") == 0
    # Queued with the answer (and the "sent" rows before it): nothing written yet.
    depth = value(before, "closedloop_writeback_queue_depth", source=source, queue="contacts")
    assert depth == loop.rt.store.counts()["writebacks.pending"] > 0
    oldest = value(before, "closedloop_writeback_oldest_pending_age_seconds", source=source,
                   queue="contacts")
    first_queued = min(q.oldest for q in loop.rt.store.writeback_queues()
                       if q.queue == "contacts")
    assert oldest == (loop.clock.now - first_queued).total_seconds()
    assert oldest >= 180  # the clock moved 3 minutes after the answer
    assert value(before, "closedloop_smtp_messages_total", outcome="delivered") == 2
    assert value(before, "closedloop_smtp_messages_total", outcome="refused") == 1
    assert value(before, "closedloop_smtp_messages_total", outcome="deferred") == 0
    assert value(before, "closedloop_job_duration_seconds_count", job="poll") == 1
    assert value(before, "closedloop_job_duration_seconds_count", job="dispatch") == 1
    assert value(before, "closedloop_source_healthy", source=source) == 1
    assert value(before, "closedloop_store_up") == 1

    loop.crm.fail_next(1, 429, loop.crm.contact_write, retry_after=0.1)
    loop.rt.write_back()
    after = scrape(loop)
    assert value(after, "closedloop_writeback_queue_depth", source=source, queue="contacts") == 0
    assert value(after, "closedloop_writeback_oldest_pending_age_seconds", source=source,
                 queue="contacts") == 0
    calls = {dict(labels)["endpoint"]: v for (name, labels), v in after.items()
             if name == "closedloop_crm_calls_total" and dict(labels)["source"] == source}
    assert calls == loop.rt.adapters[source].calls_by_endpoint()  # type: ignore[attr-defined]
    write = "contacts_update" if loop.crm.crm == "hubspot" else "user_update"  # one user
    limited = {dict(labels)["endpoint"]: v for (name, labels), v in after.items()
               if name == "closedloop_crm_rate_limited_total"}
    assert limited == {write: 1}
    # the 429, then the write that went through: one batch (HubSpot), or one PUT per user
    # for each of the two users (Zendesk: a write of two users needs no job)
    assert calls[write] == (2 if loop.crm.crm == "hubspot" else 3)
    assert value(after, "closedloop_job_duration_seconds_count", job="writeback") == 1
    assert [k for k, v in after.items() if k[0] == "closedloop_job_failures_total" and v] == []


def test_each_runtime_has_its_own_registry(loop: Loop) -> None:
    """Two Metrics over one store never share a counter (no global registry)."""
    one, two = Metrics(loop.rt.store), Metrics(loop.rt.store)
    one.mail_outcome("delivered")
    assert (one.registry.get_sample_value("closedloop_smtp_messages_total",
                                          {"outcome": "delivered"}),
            two.registry.get_sample_value("closedloop_smtp_messages_total",
                                          {"outcome": "delivered"})) == (1.0, 0.0)
