"""A local HubSpot-compatible API server for tests, the demo and benchmarks.

The real hubspot-api-client talks to it unchanged:
`HubSpot(access_token=sandbox.token, host=sandbox.url, base_url=sandbox.url)`.
"""

from __future__ import annotations

import time

from .server import HubSpotSandbox
from .state import HubSpotState

__all__ = ["HubSpotSandbox", "HubSpotState", "serve"]


def serve(port: int, tickets: int, seed: int) -> None:
    """Run a seeded sandbox in the foreground until interrupted (`closedloop sandbox hubspot`)."""
    state = HubSpotState.seeded(tickets=tickets, contacts=max(40, tickets * 4 // 5), seed=seed)
    sandbox = HubSpotSandbox(state, port=port)
    sandbox.start()
    print(f"HubSpot sandbox listening on {sandbox.url}")
    print(f"access token: {sandbox.token}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
