"""`closedloop sandbox hubspot|zendesk|twilio`: serve a sandbox on 127.0.0.1 until interrupted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer


def sandbox_app(friendly: Callable[[Any], Any]) -> typer.Typer:
    """The `sandbox` command group (`friendly`: the CLI's one-line error handling)."""
    app = typer.Typer(no_args_is_help=True, help="Run a local sandbox CRM.")

    @app.command("hubspot")
    @friendly
    def sandbox_hubspot(port: int = 8021, tickets: int = 200, seed: int = 1,
                        rate_limit: Annotated[int, typer.Option(
                            min=0, help="requests per 10 s (0: none)")] = 190,
                        daily_limit: Annotated[int, typer.Option(
                            min=0, help="requests per day (0: none)")] = 625_000) -> None:
        """Serve the sandbox HubSpot on 127.0.0.1 until interrupted."""
        from closedloop.integration.sandbox.hubspot import serve

        serve(port=port, tickets=tickets, seed=seed, rate_limit=rate_limit,
              daily_limit=daily_limit)


    @app.command("zendesk")
    @friendly
    def sandbox_zendesk(port: int = 8022, tickets: int = 200, seed: int = 1,
                        rate_limit: Annotated[int, typer.Option(
                            min=0, help="requests per minute (0: none)")] = 700) -> None:
        """Serve the sandbox Zendesk on 127.0.0.1 until interrupted."""
        from closedloop.integration.sandbox.zendesk import serve

        serve(port=port, tickets=tickets, seed=seed, rate_limit=rate_limit)


    @app.command("twilio")
    @friendly
    def sandbox_twilio(port: int = 8023) -> None:
        """Serve the sandbox Twilio SMS gateway on 127.0.0.1 until interrupted."""
        from closedloop.integration.sandbox.twilio import serve

        serve(port=port)

    return app
