"""The wired daemon: config + secrets → store, adapters, mappings, mailer, signer, web app.

Jobs stay plain functions of (store, adapter, clock); this module only builds their
collaborators once and gives each job a no-argument entry point for the scheduler.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import cached_property, partial
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
from closedloop.daemon.actions.follow_ups import FollowUpPass, start_follow_ups
from closedloop.daemon.actions.webhooks import (
    DeliveryResult,
    Endpoint,
    WebhookDeliverer,
    endpoints_from_config,
)
from closedloop.daemon.actions.webhooks.deliver import RETENTION as WEBHOOK_RETENTION
from closedloop.daemon.channels.sms import SmsChannel, twilio_client
from closedloop.daemon.config import Config
from closedloop.daemon.delivery.bounces import BounceResult, process_bounces
from closedloop.daemon.delivery.compose import Sender, compose_mail
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.env_secrets import Secrets, state_url
from closedloop.daemon.health import SourceGuard
from closedloop.daemon.insight import rollups
from closedloop.daemon.insight.themes import RefreshResult, ThemeMatcher, refresh_themes
from closedloop.daemon.insight.themes.assign import idle as themes_idle
from closedloop.daemon.jobs.adaptive import read_pace, record_poll
from closedloop.daemon.jobs.cadence import (
    CadenceResult,
    cadence_horizon,
    cadence_programs,
    plan_cadence,
    run_cadence,
)
from closedloop.daemon.jobs.dispatch import DispatchResult, dispatch_due
from closedloop.daemon.jobs.locks import GAP_SHARE, job_lock
from closedloop.daemon.jobs.notified import Coalescer, IntakeResult, intake_source
from closedloop.daemon.jobs.poll import PollResult, poll_source
from closedloop.daemon.jobs.wakes import JobWakes
from closedloop.daemon.jobs.windows import intake_ripe, intake_window, writeback_ripe
from closedloop.daemon.jobs.writeback import WriteBackResult, write_back
from closedloop.daemon.logging import get_logger
from closedloop.daemon.metrics import CountingMailer, Metrics
from closedloop.daemon.plan import Plan, make_plan
from closedloop.daemon.store import SendRecord, Store
from closedloop.daemon.surveys import Program
from closedloop.daemon.triggers import (
    Queued,
    Trigger,
    TriggerError,
    queue_trigger,
    queue_triggers,
)
from closedloop.daemon.web.assembled import assembled_app
from closedloop.daemon.web.hooks import HookSource
from closedloop.daemon.web.hooks.limiter import TokenBucket
from closedloop.daemon.web.tokens import TokenSigner
from closedloop.daemon.web.widget.settings import Site, widget_sites
from closedloop.daemon.wiring import build_adapter, hook_sources, load_mappings
from closedloop.integration.base import CRMAdapter
from closedloop.integration.errors import TransientError
from closedloop.mappings import CrmMapping

INTAKE_WINDOW = timedelta(seconds=2)
THEMES_BATCHES = 25  # of 2000 answers: one themes run reads at most 50,000


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
    hook_sources: dict[str, HookSource] = field(default_factory=dict)  # notifications in
    admin_secret: str = ""  # signs the dashboard's cookies (the daemon's secret key)
    sms: SmsChannel | None = None  # [sms]: the SMS channel (daemon/channels)
    sms_auth_token: str = ""  # signs Twilio's webhooks
    widget_sites: dict[str, Site] = field(default_factory=dict)  # [widget.sites]

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.store, self.adapters, self.clock, sorted(self.adapters))
        self.guard = SourceGuard(self.store, on_failure=self.metrics.source_failed)
        self.webhooks = WebhookDeliverer(self.store, self.endpoints, self.clock)
        # A notification wakes the intake INTAKE_WINDOW later, once per burst.
        self.intake_kick = Coalescer(self.intake, INTAKE_WINDOW)
        self._reports_verified = rollups.Verified()  # the reports job's last quiet check
        daemon = self.config.daemon  # idle jobs skip their reads until a write or a due time
        self.wakes = JobWakes(self.store, daemon.dispatch_every,  # the minute jobs: the
                              min(daemon.poll_every, daemon.writeback_every),  # faster one
                              settle=CURSOR_LAG)

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

    def poll(self, paced: bool = False) -> dict[str, PollResult]:
        """Closed tickets of each source; one replica polls a source at a time.

        `paced` (the scheduler's runs): only the sources whose adaptive pace has come
        (jobs/adaptive.py); a direct call polls every source now. Both record the pace.
        """
        programs = list(self.programs.values())
        base = self.config.daemon.poll_every
        results: dict[str, PollResult] = {}
        with self.metrics.timed("poll"):
            for name, adapter in self.adapters.items():
                now = self.clock()
                if paced and self.wakes.poll_idle(
                        name, now, partial(self._pace_next, name, base)):
                    continue
                run = partial(poll_source, self.store, adapter, programs, now,
                              self.config.reporting, self.config.sources[name].notifications)
                result = self._locked(f"poll:{name}", base, name, "poll", run)
                if result is not None:
                    results[name] = result
                    self._record_pace(name, now, result)
        return results

    def _pace_next(self, name: str, base: timedelta) -> datetime | None:
        return read_pace(self.store, name, base).next_at

    def scheduled_poll(self) -> dict[str, PollResult]:
        """The scheduler's poll: each source at its own adaptive pace."""
        return self.poll(paced=True)

    def _record_pace(self, name: str, now: datetime, result: PollResult) -> None:
        source = self.config.sources[name]
        if source.notifications:  # a safety net: what matters is what notifications missed
            # (tickets a waiting notice already named are not missed ones)
            found = result.missed > 0
            ceiling = source.safety_poll_every
            record_poll(self.store, name, now, found, self.config.daemon.poll_every, ceiling)
            return
        # Without notifications the poll is the intake: nothing it finds is due before the
        # intake window ends, so it reads at most that often (coalesced, as the intake is).
        window = intake_window(self.config.coalescing, self.programs.values(), name)
        record_poll(self.store, name, now, result.tickets > 0, self.config.daemon.poll_every,
                    source.idle_poll_max, floor=window)

    def intake(self) -> dict[str, IntakeResult]:
        """Tickets CRM change notifications named (daemon/web/hooks), read and queued."""
        programs = list(self.programs.values())
        results: dict[str, IntakeResult] = {}
        with self.metrics.timed("intake"):
            for name, adapter in self.adapters.items():
                if not self.config.sources[name].notifications:
                    continue
                window = intake_window(self.config.coalescing, programs, name)
                take = 0 if self.wakes.intake_idle(name, self.clock(), window) else \
                    intake_ripe(self.store, name, self.clock(), window)
                if take == 0:
                    results[name] = IntakeResult()  # nothing waited its window yet
                    continue
                run = partial(intake_source, self.store, adapter, programs, self.clock(),
                              self.config.reporting, take)
                if (result := self._guarded(name, "intake", run)) is not None:
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
                run = partial(run_cadence, self.store, adapter, programs, self.clock(), horizon,
                              self.config.reporting)
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
            if self.wakes.dispatch_idle(self.clock(), self.config.coalescing.sends):
                return DispatchResult()  # nothing due or held past its lease: no read
            return dispatch_due(self.store, self.programs, CountingMailer(self.mailer,
                                                                          self.metrics),
                                self.compose, self.clock(), policy=self.config.policy(),
                                adapters=self.adapters, paused=self.guard.paused(),
                                channels={"sms": self.sms} if self.sms else None,
                                window=self.config.coalescing.sends)

    def plan(self, days: int = 7) -> Plan:
        """A dry run of the next `days` days (daemon.plan): sends, writes and moves nothing."""
        # The same horizon the cadence job queues with, so planned rows expire as real ones do.
        horizon = cadence_horizon(self.config.daemon.cadence_every)
        reporting = self.config.reporting
        return make_plan(self.store, self.programs, self.config.policy(), self.adapters,
                         self.clock(), days,
                         cadence=partial(plan_cadence, horizon=horizon, reporting=reporting),
                         reporting=reporting)

    def write_back(self) -> dict[str, WriteBackResult]:
        results: dict[str, WriteBackResult] = {}
        with self.metrics.timed("writeback"):
            for name, adapter in self.adapters.items():
                # Follow-ups start first (Zendesk's creates then ride the contact write's job
                # polls) and are settled after the contact write, whatever became of it.
                follow = self.start_follow_ups(name)
                try:
                    coalescing = self.config.coalescing
                    skip = None if self.wakes.writeback_idle(name, self.clock(), coalescing) \
                        else writeback_ripe(self.store, name, self.clock(), coalescing)
                    if skip is None:
                        results[name] = WriteBackResult()  # nothing waited its window yet
                        continue
                    run = partial(write_back, self.store, adapter, self.mappings[name],
                                  self.clock(), skip_kinds=skip)
                    if (result := self._guarded(name, "writeback", run)) is not None:
                        results[name] = result
                finally:
                    if follow is not None:
                        self.finish_follow_ups(name, follow)
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

    def refresh_themes(self) -> RefreshResult | None:
        """Assign comment themes to the answers changed since the last run (one replica at a
        time; at most THEMES_BATCHES batches a run, so a first run over a large history is
        spread over several). Nothing changed (themes' `idle`): no lock, no writes."""
        now = self.clock()
        if self.wakes.quiet(self.wakes.themes, now, partial(
                themes_idle, self.store, self.theme_matcher, now,
                reporting=self.config.reporting)):
            return RefreshResult()
        with self.metrics.timed("themes"), job_lock(self.store, "themes:refresh", self.replica,
                                                    self.clock) as held:
            if not held:
                return None
            return refresh_themes(self.store, self.theme_matcher, self.clock(),
                                  max_batches=THEMES_BATCHES,
                                  reporting=self.config.reporting)

    @cached_property
    def theme_matcher(self) -> ThemeMatcher:
        return self.config.themes.matcher()
    def refresh_reports(self) -> int:
        """Keep the report rollups current (one replica at a time); rollup rows moved.
        Nothing new since the last refresh (rollups.settled): no lock, no re-count."""
        now = self.clock()
        if self.wakes.quiet(self.wakes.reports, now, partial(
                rollups.settled, self.store, self.config.reporting, now,
                self._reports_verified)):
            return 0
        with self.metrics.timed("reports"), job_lock(
                self.store, "reports:refresh", self.replica, self.clock) as held:
            if held:
                return rollups.refresh(self.store, self.config.reporting, self.clock(),
                                       thorough=True)
        return 0

    def deliver_webhooks(self) -> DeliveryResult:
        """Route new events and post due webhook deliveries (its own job: a slow receiver
        never delays the write-back)."""
        with self.metrics.timed("webhooks"):
            if self.wakes.webhooks_idle(self.clock(), WEBHOOK_RETENTION,
                                        deliveries=bool(self.webhooks.endpoints)):
                return DeliveryResult()
            return self.webhooks.run()

    def follow_ups(self, name: str) -> None:
        """Follow-up tasks / tickets of one source (daemon.actions) in one go."""
        if (follow := self.start_follow_ups(name)) is not None:
            self.finish_follow_ups(name, follow)

    def start_follow_ups(self, name: str) -> FollowUpPass | None:
        """Claim one source's follow-ups and start their write (see finish_follow_ups);
        None when it has no follow-up rule, is paused or the start failed (the guard's)."""
        rules = self.config.rules.follow_up_rules(self.config.programs)
        if not any(p.source == name for p in self.config.programs if p.name in rules):
            return None
        source = self.config.sources[name]
        agent_view = (f"https://{source.subdomain}.zendesk.com/agent/tickets/"
                      if source.crm == "zendesk" and source.subdomain else None)
        start = partial(start_follow_ups, self.store, self.adapters[name], rules, self.clock(),
                        lambda ticket: f"{agent_view}{ticket}" if agent_view else None)
        follow: FollowUpPass | None = self._guarded(name, "follow_ups", start)
        return follow

    def finish_follow_ups(self, name: str, follow: FollowUpPass) -> None:
        """Settle a started pass; errors are the guard's. A pass the guard does not run (the
        contact write just paused the source) still ends: its rows wait and are looked up
        before they are created again."""
        self._guarded(name, "follow_ups", follow.finish)
        if not follow.finished:
            follow.failed = follow.failed or TransientError("source paused")
            follow.end = None
            follow.finish()

    def close(self) -> None:
        """Release what the runtime holds: adapters' sessions (and zenpy's override), the pool."""
        self.intake_kick.cancel()
        for adapter in self.adapters.values():
            close = getattr(adapter, "close", None)
            if callable(close):
                close()
        if self.sms is not None:
            self.sms.close()
        self.store.dispose()

    def web_app(self, hook_limiter: TokenBucket | None = None) -> FastAPI:
        """The response pages, plus /healthz, /readyz and /metrics for this runtime (see
        web/assembled.py); `hook_limiter`: the inbound notifications' token bucket."""
        return assembled_app(self, hook_limiter)

    def trigger(self, trigger: Trigger, *, dry_run: bool = False,
                source: str | None = None) -> Queued:
        """Queue the survey a trigger asks for (daemon/triggers); `dry_run` writes nothing."""
        return queue_trigger(self.store, self.adapters, list(self.programs.values()), trigger,
                             self.clock(), reporting=self.config.reporting, dry_run=dry_run,
                             source=source)

    def trigger_many(self, triggers: Sequence[Trigger], *,
                     dry_run: bool = False) -> list[Queued | TriggerError]:
        """Many triggers (a CSV): unknown people read in batches; each row's outcome."""
        return queue_triggers(self.store, self.adapters, list(self.programs.values()),
                              triggers, self.clock(), reporting=self.config.reporting,
                              dry_run=dry_run)

    def hook_trigger(self, trigger: Trigger, source: str | None) -> Queued:
        """A trigger that came by POST /hooks (`source`: its CRM route, None: generic)."""
        return self.trigger(trigger, source=source)

    def _guarded(self, source: str, job: str, run: Callable[[], Any]) -> Any:
        """Run one source's job unless the source is paused (see daemon.health)."""
        return self.guard.run(source, job, run, self.clock())


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
        hook_sources=hook_sources(config, secrets),
        admin_secret=secrets.secret_key.get_secret_value(),
        widget_sites=widget_sites(config.widget),
    )
    rt.alert_channels = build_channels(config.alerts, urls, rt.mailer, rt.sender)
    if config.sms.enabled and secrets.sms_auth_token is not None:
        token = secrets.sms_auth_token.get_secret_value()
        rt.sms_auth_token = token
        rt.sms = SmsChannel(store, config.sms, twilio_client(config.sms, token),
                            public_url=str(config.daemon.public_url),
                            fallback_language=config.rules.fallback_language)
    return rt
