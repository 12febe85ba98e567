"""The wired daemon: config + secrets → store, adapters, mappings, mailer, signer, web app.

Jobs stay plain functions of (store, adapter, clock); this module only builds their
collaborators once and gives each job a no-argument entry point for the scheduler.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any

from fastapi import FastAPI

from closedloop.daemon.actions.alerts.channels import Channel, build_channels
from closedloop.daemon.actions.alerts.job import (
    CURSOR_LAG,
    AlertsResult,
    deliver_alerts,
    evaluate_alerts,
)
from closedloop.daemon.actions.alerts.settings import channel_secrets
from closedloop.daemon.actions.follow_ups import process_follow_ups
from closedloop.daemon.actions.webhooks import (
    DeliveryResult,
    Endpoint,
    WebhookDeliverer,
    endpoints_from_config,
)
from closedloop.daemon.config import Config, Secrets, state_url
from closedloop.daemon.delivery.bounces import BounceResult, process_bounces
from closedloop.daemon.delivery.compose import Sender, compose_mail
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.health import SourceGuard
from closedloop.daemon.jobs.cadence import (
    CadenceResult,
    cadence_horizon,
    cadence_programs,
    plan_cadence,
    run_cadence,
)
from closedloop.daemon.jobs.dispatch import DispatchResult, dispatch_due
from closedloop.daemon.jobs.locks import GAP_SHARE, job_lock
from closedloop.daemon.jobs.poll import PollResult, poll_source
from closedloop.daemon.jobs.writeback import WriteBackResult, write_back
from closedloop.daemon.logging import get_logger
from closedloop.daemon.metrics import CountingMailer, Metrics
from closedloop.daemon.plan import Plan, make_plan
from closedloop.daemon.store import SendRecord, Store
from closedloop.daemon.surveys import Program
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.ops import ops_router
from closedloop.daemon.web.scanner import SharedOpenTracker
from closedloop.daemon.web.tokens import TokenSigner
from closedloop.integration.base import CRMAdapter
from closedloop.integration.hubspot import HubSpotAdapter, hubspot_pacer
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.zendesk import ZendeskAdapter, zendesk_pacer
from closedloop.mappings import CrmMapping, load_mapping


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a daemon process holds; built once from the config."""

    config: Config
    store: Store
    programs: dict[str, Program]
    adapters: dict[str, CRMAdapter]
    mappings: dict[str, CrmMapping]
    signer: TokenSigner
    mailer: SmtpSender
    sender: Sender
    clock: Callable[[], datetime] = utcnow
    endpoints: list[Endpoint] = field(default_factory=list)  # [[webhooks]]
    metrics: Metrics = field(init=False)
    guard: SourceGuard = field(init=False)  # pauses a source whose token is refused
    replica: str = field(default_factory=lambda: uuid.uuid4().hex)  # holder of job locks
    alert_channels: dict[str, Channel] = field(default_factory=dict)  # rule name -> channel

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.store, self.adapters, self.clock, sorted(self.adapters))
        self.guard = SourceGuard(self.store, on_failure=self.metrics.source_failed)
        self.webhooks = WebhookDeliverer(self.store, self.endpoints, self.clock)

    def compose(self, row: SendRecord, program: Program,
                now: datetime | None = None) -> EmailMessage:
        """A survey or reminder mail for one outbox row (ValueError when it has no address).

        `now` is the time dispatch records as sent: the survey's token is dated with it.
        """
        return compose_mail(
            row, program, public_url=self.config.daemon.public_url, signer=self.signer,
            sender=self.sender, fallback_language=self.config.rules.fallback_language,
            now=now or self.clock(),
        )

    def process_bounces(self) -> BounceResult | None:
        """Read the bounce Maildir (mail.bounce_maildir), if one is configured."""
        maildir = self.config.mail.bounce_maildir
        if maildir is None:
            return None
        with self.metrics.timed("bounces"):
            return process_bounces(self.store, maildir, self.clock())

    def poll(self) -> dict[str, PollResult]:
        """Closed tickets of each source; one replica polls a source at a time."""
        programs = list(self.programs.values())
        results: dict[str, PollResult] = {}
        with self.metrics.timed("poll"):
            for name, adapter in self.adapters.items():
                run = partial(poll_source, self.store, adapter, programs, self.clock())
                result = self._locked(f"poll:{name}", self.config.daemon.poll_every, name,
                                      "poll", run)
                if result is not None:
                    results[name] = result
        return results

    def cadence(self) -> dict[str, CadenceResult]:
        """NPS list programs: one pass over each audience, sends queued a horizon ahead."""
        programs = list(self.programs.values())
        every = self.config.daemon.cadence_every
        horizon = cadence_horizon(every)
        results: dict[str, CadenceResult] = {}
        with self.metrics.timed("cadence"):
            for name, adapter in self.adapters.items():
                if not cadence_programs(programs, name):
                    self.guard.release(name, "cadence", self.clock())
                    continue
                run = partial(run_cadence, self.store, adapter, programs, self.clock(), horizon)
                result = self._locked(f"cadence:{name}", every, name, "cadence", run)
                if result is not None:
                    results[name] = result
        return results

    def _locked(self, lock: str, every: timedelta, source: str, job: str,
                run: Callable[[], Any]) -> Any:
        """Run a source's job under its job lock (jobs/locks.py); None if another replica
        holds it or finished it less than most of `every` ago."""
        with job_lock(self.store, lock, self.replica, self.clock,
                      gap=every * GAP_SHARE) as held:
            return self._guarded(source, job, run) if held else None

    def dispatch(self) -> DispatchResult:
        """Send what is due; a paused source's surveys wait (their reopen check cannot run)."""
        with self.metrics.timed("dispatch"):
            return dispatch_due(self.store, self.programs, CountingMailer(self.mailer,
                                                                          self.metrics),
                                self.compose, self.clock(), policy=self.config.policy(),
                                adapters=self.adapters, paused=self.guard.paused())

    def plan(self, days: int = 7) -> Plan:
        """A dry run of the next `days` days (daemon.plan): sends, writes and moves nothing."""
        # The same horizon the cadence job queues with, so planned rows expire as real ones do.
        horizon = cadence_horizon(self.config.daemon.cadence_every)
        return make_plan(self.store, self.programs, self.config.policy(), self.adapters,
                         self.clock(), days, cadence=partial(plan_cadence, horizon=horizon))

    def write_back(self) -> dict[str, WriteBackResult]:
        results: dict[str, WriteBackResult] = {}
        with self.metrics.timed("writeback"):
            for name, adapter in self.adapters.items():
                run = partial(write_back, self.store, adapter, self.mappings[name], self.clock())
                if (result := self._guarded(name, "writeback", run)) is not None:
                    results[name] = result
                self.follow_ups(name)  # after the contact write, never before or instead
        return results

    def alerts(self) -> AlertsResult:
        """Evaluate the alert rules (one replica at a time), then deliver what is due."""
        result = AlertsResult()
        rules = self.config.alerts
        if not rules:
            return result
        with self.metrics.timed("alerts"):
            with job_lock(self.store, "alerts:evaluate", self.replica, self.clock) as held:
                if held:
                    evaluate_alerts(self.store, rules, self.clock(), result, lag=CURSOR_LAG)
            deliver_alerts(self.store, self.alert_channels, self.clock(), result)
        if result.queued or result.delivered or result.retried or result.dead:
            get_logger(job="alerts").info("alerts.run", **vars(result))
        return result

    def deliver_webhooks(self) -> DeliveryResult:
        """Route new events and post due webhook deliveries (its own job: a slow receiver
        never delays the write-back)."""
        with self.metrics.timed("webhooks"):
            return self.webhooks.run()

    def follow_ups(self, name: str) -> None:
        """Follow-up tasks / tickets of one source (daemon.actions); errors are the guard's."""
        rules = self.config.rules.follow_up_rules(self.config.programs)
        if not any(p.source == name for p in self.config.programs if p.name in rules):
            return
        source = self.config.sources[name]
        agent_view = (f"https://{source.subdomain}.zendesk.com/agent/tickets/"
                      if source.crm == "zendesk" and source.subdomain else None)
        run = partial(process_follow_ups, self.store, self.adapters[name], rules, self.clock(),
                      lambda ticket: f"{agent_view}{ticket}" if agent_view else None)
        self._guarded(name, "follow_ups", run)

    def close(self) -> None:
        """Release what the runtime holds: adapters' sessions (and zenpy's override), the pool."""
        for adapter in self.adapters.values():
            close = getattr(adapter, "close", None)
            if callable(close):
                close()
        self.store.dispose()

    def web_app(self) -> FastAPI:
        """The response pages, plus /healthz, /readyz and /metrics for this runtime.

        On PostgreSQL (replicas) the score links opened are remembered in the store, so a
        scanner's burst spread over several web processes is still seen as one."""
        shared = self.store.engine.dialect.name == "postgresql"
        return create_app(store=self.store, signer=self.signer, programs=self.programs,
                          clock=self.clock, policy=self.config.policy(),
                          ops=ops_router(self.store, self.metrics, sorted(self.adapters)),
                          brand=self.config.default_brand(),
                          opens=SharedOpenTracker(self.store, clock=self.clock) if shared else None)

    def _guarded(self, source: str, job: str, run: Callable[[], Any]) -> Any:
        """Run one source's job unless the source is paused (see daemon.health)."""
        return self.guard.run(source, job, run, self.clock())


def build_adapter(name: str, config: Config, secrets: Secrets) -> CRMAdapter:
    source = config.sources[name]
    retry = RetryPolicy(max_attempts=source.retry_attempts,
                        max_delay=source.retry_budget.total_seconds())
    token = secrets.source_tokens[name].get_secret_value()
    max_wait = source.retry_budget.total_seconds()
    if source.crm == "zendesk":
        assert source.subdomain  # the config requires it for Zendesk
        assert source.email
        return ZendeskAdapter(
            name, subdomain=source.subdomain, email=source.email, token=token,
            base_url=None if source.base_url == f"https://{source.subdomain}.zendesk.com"
            else source.base_url,
            start_at=source.start_at, retry=retry,
            job_poll_interval=source.job_poll_interval.total_seconds(),
            job_timeout=source.job_timeout.total_seconds(),
            pacer=zendesk_pacer(name, per_minute=source.rate_limit or 200,
                                quota_share=source.quota_share, max_wait=max_wait)
            if source.pacing else None,
        )
    lists = [p.list_id for p in config.programs if p.source == name and p.list_id]
    return HubSpotAdapter(
        name, token, source.base_url, start_at=source.start_at, pipelines=source.pipelines,
        retry=retry, lists=lists,
        pacer=hubspot_pacer(name, per_10s=source.rate_limit or 190, daily=source.daily_limit,
                            burst_share=source.burst_share, quota_share=source.quota_share,
                            max_wait=max_wait) if source.pacing else None,
    )


def load_mappings(config: Config) -> dict[str, CrmMapping]:
    """Each source's mapping, expanded for the property prefixes of that source's programs."""
    programs = config.program_list()
    return {name: load_mapping(src.crm, src.mapping, [p for p in programs if p.source == name])
            for name, src in config.sources.items()}


def build_runtime(config: Config, secrets: Secrets,
                  clock: Callable[[], datetime] = utcnow) -> Runtime:
    """Wire a runtime; raises ConfigError for a bad mapping or state URL."""
    store = Store(state_url(config))
    mail = config.mail
    password = secrets.smtp_password.get_secret_value() if secrets.smtp_password else None
    urls = channel_secrets(config.alerts)
    rt = Runtime(
        config=config,
        store=store,
        programs={p.name: p for p in config.program_list()},
        adapters={name: build_adapter(name, config, secrets) for name in config.sources},
        mappings=load_mappings(config),
        # Links are dated and checked on the jobs' clock, so a token dated by dispatch is
        # never "from the future" for the web app.
        signer=TokenSigner(secrets.secret_key.get_secret_value(), config.daemon.link_max_age,
                           clock=clock),
        mailer=SmtpSender(mail.host, mail.port, starttls=mail.security == "starttls",
                          ssl=mail.security == "ssl", username=mail.username, password=password,
                          envelope_from=mail.bounce_address or mail.from_address),
        sender=Sender(address=mail.from_address, name=mail.from_name, reply_to=mail.reply_to),
        clock=clock,
        endpoints=endpoints_from_config(config, secrets),
    )
    rt.alert_channels = build_channels(config.alerts, urls, rt.mailer, rt.sender)
    return rt
