"""How every command reports an expected failure: one `error:` line per problem and an exit
code (2 for a mistake in the request or the config, 1 otherwise), never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from closedloop.daemon.config_check import mask_url
from closedloop.integration.errors import AuthError, ClosedLoopError, ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn ClosedLoop's expected errors into messages and exit codes, never tracebacks.

    An error with a true `usage` attribute (e.g. insight's ReportError for an unknown
    segment) is a mistake in the request: exit 2, like a config problem."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.problems:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(2) from None
        except AuthError as exc:
            typer.echo(f"error: the CRM refused the credentials: {exc}", err=True)
            raise typer.Exit(1) from None
        except ClosedLoopError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2 if getattr(exc, "usage", False) else 1) from None
        except DBAPIError as exc:
            detail = mask_url(str(exc.orig).strip().splitlines()[0]) if exc.orig else ""
            typer.echo(f"error: the state database cannot be used "
                       f"({type(exc.orig).__name__}: {detail})", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
