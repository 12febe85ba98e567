"""The daemon's whole web app for one runtime: the response pages and every router the
config turns on (dashboard, notifications and triggers, widget, SMS, operations).

On PostgreSQL (replicas) the score links opened are remembered in the store, so a
scanner's burst spread over several web processes is still seen as one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from closedloop.daemon.web.admin.wiring import admin_app
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.hooks import hooks_router
from closedloop.daemon.web.hooks.limiter import TokenBucket
from closedloop.daemon.web.hooks.twilio import twilio_router
from closedloop.daemon.web.ops import ops_router
from closedloop.daemon.web.scanner import SharedOpenTracker
from closedloop.daemon.web.widget.lookup import CrmLookup
from closedloop.daemon.web.widget.router import widget_router

if TYPE_CHECKING:
    from closedloop.daemon.runtime import Runtime


def assembled_app(rt: Runtime, hook_limiter: TokenBucket | None = None) -> FastAPI:
    """`hook_limiter`: the inbound notifications' token bucket (a benchmark's simulated
    clock); a fresh one by default."""
    shared = rt.store.engine.dialect.name == "postgresql"
    app = create_app(store=rt.store, signer=rt.signer, programs=rt.programs,
                      clock=rt.clock, policy=rt.config.policy(),
                      ops=ops_router(rt.store, rt.metrics, sorted(rt.adapters)),
                      brand=rt.config.default_brand(),
                      admin=admin_app(rt.config, rt.store, rt.admin_secret,
                                      rt.clock) if rt.admin_secret else None,
                      opens=SharedOpenTracker(rt.store, clock=rt.clock) if shared else None,
                      hooks=hooks_router(rt.store, rt.hook_sources,
                                         public_url=str(rt.config.daemon.public_url),
                                         on_notified=rt.intake_kick.kick,
                                         clock=rt.clock, triggers=rt.hook_trigger,
                                         limiter=hook_limiter)
                      if rt.hook_sources else None,
                      widget=widget_router(rt.store, rt.widget_sites, rt.programs,
                                           rt.config.policy(), rt.clock,
                                           lookup=CrmLookup(rt.adapters))
                      if rt.widget_sites else None)
    if rt.sms is not None:
        app.include_router(twilio_router(
            rt.store, rt.signer, rt.programs, auth_token=rt.sms_auth_token,
            public_url=str(rt.config.daemon.public_url), clock=rt.clock,
            fallback_language=rt.config.rules.fallback_language))
    return app

