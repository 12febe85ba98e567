"""Secrets: read from the environment variables the config names, never from the file, into
`SecretStr`s kept apart from the config so `config show` can never print them. Every missing
or malformed one is reported at once."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy.engine import make_url

from closedloop.daemon.channels.settings import read_sms_token
from closedloop.daemon.config import Config
from closedloop.integration.errors import ConfigError


class Secrets(BaseModel):
    """Secrets read from the environment, kept apart so `config show` can never print them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_key: SecretStr
    source_tokens: dict[str, SecretStr]
    smtp_password: SecretStr | None = None
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Inbound CRM webhooks: source name -> signing secret ([sources.X] notifications/triggers)
    source_hook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    sms_auth_token: SecretStr | None = None  # [sms] auth_token_env
    generic_hook_secret: SecretStr | None = None  # [triggers] generic: Standard Webhooks


def read_secrets(config: Config, env: Mapping[str, str] | None = None, *,
                 hooks_optional: bool = False) -> Secrets:
    """Read every secret the config names from the environment; report all the missing ones.
    `hooks_optional` (setup): the inbound webhooks' secrets are read only when set."""
    environ = os.environ if env is None else env
    problems: list[str] = []

    def need(var: str, what: str, key: str) -> SecretStr:
        value = environ.get(var, "").strip()
        if not value:
            problems.append(f"{key}: environment variable {var} is not set (expected {what})")
        elif any(ch.isspace() or ord(ch) < 32 for ch in value):
            problems.append(f"{key}: environment variable {var} contains spaces or control "
                            "characters (a line break from an env file?); expected one token")
        return SecretStr(value)

    secret_key = need(
        config.daemon.secret_key_env,
        "a long random string that signs survey links, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe())'`",
        "daemon.secret_key_env",
    )
    what = {"hubspot": "the HubSpot service key or private-app access token",
            "zendesk": "the Zendesk API token of the agent named in email"}
    tokens = {
        name: need(src.token_env, what[src.crm], f"sources.{name}.token_env")
        for name, src in config.sources.items()
    }
    if config.daemon.state_password_env is not None:
        _state_password(config.daemon.state_password_env, environ, problems)
    password = None
    if config.mail.username:
        password = need(config.mail.password_env, "the SMTP password for mail.username",
                        "mail.password_env")
    hooks = {hook.name: _webhook_secret(hook.secret_env, environ, problems,
                                        f"webhooks.{hook.name}.secret_env")
             for hook in config.webhooks}
    inbound = {name: need(src.webhook_secret_env, "the signing secret of the CRM's "
                          "notifications (HubSpot: the app's client secret; Zendesk: the "
                          "webhook's signing secret)", f"sources.{name}.webhook_secret_env")
               for name, src in config.sources.items() if (src.notifications or src.triggers)
               and not (hooks_optional and not environ.get(src.webhook_secret_env))}
    generic_env = config.triggers.generic_secret_env
    generic = (_webhook_secret(generic_env, environ, problems, "triggers.generic_secret_env")
               if config.triggers.generic
               and not (hooks_optional and not environ.get(generic_env)) else None)
    sms_token = read_sms_token(config.sms, environ, problems)
    if problems:
        raise ConfigError(problems)
    return Secrets(secret_key=secret_key, source_tokens=tokens, smtp_password=password,
                   sms_auth_token=sms_token,
                   webhook_secrets=hooks, source_hook_secrets=inbound,
                   generic_hook_secret=generic)


def _webhook_secret(var: str, environ: Mapping[str, str], problems: list[str],
                    key: str) -> SecretStr:
    """A Standard Webhooks secret: `whsec_` then base64 of 24 to 64 random bytes."""
    value = environ.get(var, "").strip()
    expected = ("a signing secret such as whsec_ followed by base64 of 24 to 64 random bytes, "
                "e.g. from `python -c 'import base64,os; "
                "print(\"whsec_\" + base64.b64encode(os.urandom(32)).decode())'`")
    if not value:
        problems.append(f"{key}: environment variable {var} is not set (expected {expected})")
        return SecretStr("")
    try:
        raw = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not 24 <= len(raw) <= 64:
        problems.append(f"{key}: environment variable {var} is not {expected}")
    return SecretStr(value)


def state_url(config: Config, env: Mapping[str, str] | None = None) -> str:
    """The state database URL, with the password from daemon.state_password_env put in
    (percent-encoded, so any character works); a ConfigError when that variable is unset.

    Never print the result: `mask_url` it."""
    var = config.daemon.state_password_env
    if var is None:
        return config.daemon.state_url
    problems: list[str] = []
    password = _state_password(var, os.environ if env is None else env, problems)
    if problems:
        raise ConfigError(problems)
    url = make_url(config.daemon.state_url).set(password=password)
    return url.render_as_string(hide_password=False)


def _state_password(var: str, environ: Mapping[str, str], problems: list[str]) -> str:
    value = environ.get(var, "")
    key = "daemon.state_password_env"
    if not value:
        problems.append(f"{key}: environment variable {var} is not set (expected the "
                        "PostgreSQL password of daemon.state_url)")
    elif any(ord(ch) < 32 for ch in value):
        problems.append(f"{key}: environment variable {var} contains control characters "
                        "(a line break from an env file?)")
    return value


