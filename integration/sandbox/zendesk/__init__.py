"""A local Zendesk Support API server for tests, the demo and benchmarks.

The real zenpy talks to it unchanged once ZENPY_FORCE_SCHEME=http and
ZENPY_FORCE_NETLOC=`sandbox.netloc` are set:
`Zenpy(subdomain=sandbox.subdomain, email=sandbox.email, token=sandbox.token,
disable_cache=True)`.
"""

from __future__ import annotations

import threading

from .._serve import serve_until_stopped
from .server import ZendeskSandbox
from .state import ZendeskState

__all__ = ["ZendeskSandbox", "ZendeskState", "serve"]


def serve(port: int, tickets: int, seed: int, *, stop: threading.Event | None = None,
          rate_limit: int = 700) -> None:
    """Run a seeded sandbox in the foreground until Ctrl-C (`closedloop sandbox zendesk`).

    `stop` lets a caller (a test, the demo) end it without a signal.
    """
    state = ZendeskState.seeded(tickets=tickets, seed=seed)
    sandbox = ZendeskSandbox(state, port=port, rate_limit_per_minute=rate_limit)
    serve_until_stopped(sandbox, lambda: [
        f"Zendesk sandbox listening on {sandbox.url}",
        f"zenpy: ZENPY_FORCE_SCHEME=http ZENPY_FORCE_NETLOC={sandbox.netloc}",
        f"subdomain: {sandbox.subdomain}  email: {sandbox.email}  token: {sandbox.token}"], stop)
