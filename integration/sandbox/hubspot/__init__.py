"""A local HubSpot-compatible API server for tests, the demo and benchmarks.

The real hubspot-api-client talks to it unchanged:
`HubSpot(access_token=sandbox.token, host=sandbox.url, base_url=sandbox.url)`.
"""

from __future__ import annotations

import threading

from .._serve import serve_until_stopped
from .seed import DAILY_LIMIT
from .server import HubSpotSandbox
from .state import HubSpotState
from .webhooks import APP_ID

__all__ = ["HubSpotSandbox", "HubSpotState", "serve"]


def serve(port: int, tickets: int, seed: int, *, stop: threading.Event | None = None,
          rate_limit: int = 190, daily_limit: int = DAILY_LIMIT) -> None:
    """Run a seeded sandbox in the foreground until Ctrl-C (`closedloop sandbox hubspot`).

    `stop` lets a caller (a test, the demo) end it without a signal.
    """
    state = HubSpotState.seeded(tickets=tickets, contacts=max(40, tickets * 4 // 5), seed=seed)
    sandbox = HubSpotSandbox(state, port=port, rate_limit_per_10s=rate_limit,
                             daily_limit=daily_limit)
    serve_until_stopped(sandbox, lambda: [
        f"HubSpot sandbox listening on {sandbox.url}", f"access token: {sandbox.token}",
        f"webhooks: PUT {sandbox.url}/webhooks/v3/{APP_ID}/settings (targetUrl), app client "
        f"secret {sandbox.webhooks.client_secret}"], stop)
