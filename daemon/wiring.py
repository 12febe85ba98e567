"""What a runtime is built from: each source's adapter, its mapping, the /hooks routes.

Kept apart from daemon/runtime.py so a command that needs one adapter (`check --online`) or
a benchmark that needs the mappings builds only that.
"""

from __future__ import annotations

from dataclasses import replace

from closedloop.daemon.config import Config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.insight.capture import properties_to_read
from closedloop.daemon.web.hooks import GENERIC, HookSource
from closedloop.integration.base import CRMAdapter
from closedloop.integration.hubspot import HubSpotAdapter, hubspot_pacer
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.zendesk import ZendeskAdapter, zendesk_pacer
from closedloop.mappings import CrmMapping, load_mapping


def build_adapter(name: str, config: Config, secrets: Secrets) -> CRMAdapter:
    source = config.sources[name]
    retry = RetryPolicy(max_attempts=source.retry_attempts,
                        max_delay=source.retry_budget.total_seconds())
    token = secrets.source_tokens[name].get_secret_value()
    # Custom segments are read in the calls the poll and the cadence already make.
    tickets = properties_to_read(config.reporting, name, "ticket")
    contacts = properties_to_read(config.reporting, name, "contact")
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
            ticket_properties=tickets, contact_properties=contacts,
            pacer=zendesk_pacer(name, per_minute=source.rate_limit or 200,
                                quota_share=source.quota_share, max_wait=max_wait)
            if source.pacing else None,
        )
    lists = [p.list_id for p in config.programs if p.source == name and p.list_id]
    return HubSpotAdapter(
        name, token, source.base_url, start_at=source.start_at, pipelines=source.pipelines,
        retry=retry, lists=lists, ticket_properties=tickets, contact_properties=contacts,
        pacer=hubspot_pacer(name, per_10s=source.rate_limit or 190, daily=source.daily_limit,
                            burst_share=source.burst_share, quota_share=source.quota_share,
                            max_wait=max_wait) if source.pacing else None,
    )


def load_mappings(config: Config) -> dict[str, CrmMapping]:
    """Each source's mapping, expanded for the property prefixes of that source's programs;
    a mapping with a `themes` property (`[themes] property`, or a mapping file's own) gets
    the config's theme matcher to fill it."""
    programs = config.program_list()
    out: dict[str, CrmMapping] = {}
    for name, src in config.sources.items():
        mapping = load_mapping(src.crm, src.mapping, [p for p in programs if p.source == name],
                               themes_property=config.themes.property)
        if any(p.value == "themes" for p in mapping.properties):
            mapping = replace(mapping, comment_themes=config.themes.matcher().assign)
        out[name] = mapping
    return out


def hook_sources(config: Config, secrets: Secrets) -> dict[str, HookSource]:
    """The routes of POST /hooks: each source with notifications or triggers, and generic."""
    out = {name: HookSource(name, config.sources[name].crm, secret.get_secret_value(),
                            notifications=config.sources[name].notifications,
                            triggers=config.sources[name].triggers)
           for name, secret in secrets.source_hook_secrets.items()}
    if secrets.generic_hook_secret is not None:
        out[GENERIC] = HookSource(GENERIC, "standard",
                                  secrets.generic_hook_secret.get_secret_value(),
                                  notifications=False, triggers=True)
    return out
