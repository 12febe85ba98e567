"""`closedloop users add|list|remove|hash`: dashboard users kept in the store.

The commands are built by `users_app(...)` with the main CLI's error handling and config
loader passed in (the main CLI module imports this one, not the other way round).
Passwords are asked twice on a terminal, or read from standard input with
`--password-stdin` (scripts); they are never an argument (shell history, `ps`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from closedloop.daemon.cli_options import DEFAULT_CONFIG, ConfigPath
from closedloop.daemon.config import Config
from closedloop.daemon.env_secrets import state_url
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts
from closedloop.daemon.web.admin.passwords import WeakPassword, hash_password
from closedloop.daemon.web.admin.settings import (
    USER_NAME,
    ScopeError,
    describe_scope,
    parse_scope_text,
)
from closedloop.integration.errors import ClosedLoopError, ConfigError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
# As in the main CLI (typer reads these annotations at run time, so they live here too).


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def new_user(cfg: Config, name: str, scope: str,
             password_stdin: bool) -> tuple[dict[str, list[str]], str]:
    """Check the name and scope before asking for the password; (scope, hash)."""
    if not USER_NAME.match(name):
        raise ConfigError([f"NAME: 1-64 letters, digits, '_', '.', '@' or '-', got {name!r}"])
    try:
        chosen = parse_scope_text(scope, cfg.reporting.scope)
    except ScopeError as exc:
        raise ConfigError([f"--scope: {exc}"]) from None
    try:
        digest = hash_password(read_password(password_stdin))
    except WeakPassword as exc:
        raise ConfigError([f"password: {exc}"]) from None
    return chosen, digest


def users_app(friendly: Decorator, load: Callable[[Path], Config]) -> typer.Typer:
    users = typer.Typer(no_args_is_help=True, help="Dashboard users (/admin).")

    def open_accounts(config: Path | Config) -> tuple[Config, Accounts]:
        cfg = config if isinstance(config, Config) else load(config)
        store = Store(state_url(cfg))
        store.migrate()
        return cfg, Accounts(store, cfg.users, cfg.reporting.scope)

    @users.command("add")
    @friendly
    def add(name: Annotated[str, typer.Argument(help="The sign-in name.")],
            scope: Annotated[str, typer.Option(
                help="What the user sees: hq (everything), or LEVEL=VALUE[,VALUE] with a "
                     "level of [reporting].scope, e.g. region=north or store=oslo")] = "hq",
            password_stdin: Annotated[bool, typer.Option(
                "--password-stdin", help="Read the password from standard input.")] = False,
            config: ConfigPath = DEFAULT_CONFIG) -> None:
        """Add a dashboard user (asks for the password twice)."""
        cfg = load(config)
        chosen, digest = new_user(cfg, name, scope, password_stdin)  # before the store
        _, accounts = open_accounts(cfg)
        try:
            accounts.add(name, digest, chosen, datetime.now(UTC))
        finally:
            accounts.store.dispose()
        typer.echo(f"user {name} added; sees {describe_scope(chosen)}")

    @users.command("list")
    @friendly
    def list_users(config: ConfigPath = DEFAULT_CONFIG) -> None:
        """List the dashboard users (config and store)."""
        _, accounts = open_accounts(config)
        try:
            found = accounts.all()
        finally:
            accounts.store.dispose()
        table = Table(title="Dashboard users")
        for column in ("name", "scope", "defined in"):
            table.add_column(column)
        for user in found:
            table.add_row(user.name, describe_scope(user.scope), user.origin)
        Console().print(table)

    @users.command("remove")
    @friendly
    def remove(name: Annotated[str, typer.Argument(help="The sign-in name.")],
               config: ConfigPath = DEFAULT_CONFIG) -> None:
        """Remove a user added with `users add`; their sessions end at once."""
        _, accounts = open_accounts(config)
        try:
            if name in accounts.config_users:
                raise ClosedLoopError(f"user {name!r} is defined in the config ([[users]]); "
                                      "remove it there")
            if not accounts.remove(name):
                raise ClosedLoopError(f"no user {name!r} in the store (see `closedloop users "
                                      "list`)")
        finally:
            accounts.store.dispose()
        typer.echo(f"user {name} removed; their sessions are over")

    @users.command("hash")
    @friendly
    def hash_command(password_stdin: Annotated[bool, typer.Option(
            "--password-stdin", help="Read the password from standard input.")] = False
                     ) -> None:
        """Print an argon2 hash for a [[users]] entry of the config."""
        try:
            typer.echo(hash_password(read_password(password_stdin)))
        except WeakPassword as exc:
            raise ConfigError([f"password: {exc}"]) from None

    return users


def dashboard_lines(login: dict[str, str], *, serving: bool) -> str:
    """The demo's last lines: where the dashboard is and the login it made (shown once)."""
    if not login:
        return ""
    after = ("It runs until you press Ctrl-C." if serving else
             "It stops with the demo; run `closedloop demo --serve` to keep it running.")
    return (f"Dashboard: {login['url']}\n"
            f"  sign in as {login['user']} with password {login['password']} "
            f"(made for this demo, shown once)\n  {after}")


def wait_for_interrupt() -> None:
    """Sleep until Ctrl-C (the demo's daemon keeps serving meanwhile)."""
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return
