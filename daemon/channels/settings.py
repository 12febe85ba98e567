"""`[sms]` and a program's `channel`: how the SMS channel reaches Twilio.

    [sms]
    account_sid = "AC..."                    # the Twilio account
    auth_token_env = "CLOSEDLOOP_TWILIO_AUTH_TOKEN"  # the auth token (also signs webhooks)
    from_number = "+15005550006"             # or messaging_service_sid = "MG..."
    default_region = "US"                    # numbers without +country are read here
    base_url = "https://api.twilio.com"      # the bundled sandbox for the demo and tests

A program picks its channel with `channel = "email" | "sms" | "email_then_sms"` (SMS only
when the person has no e-mail address). A program that texts needs `[sms] account_sid`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ChannelChoice = Literal["email", "sms", "email_then_sms", "web"]  # "web": daemon/web/widget
CHANNELS: tuple[ChannelChoice, ...] = ("email", "sms", "email_then_sms", "web")
TEXTING = ("sms", "email_then_sms")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SmsSettings(BaseModel):
    """The `[sms]` table; empty (no account_sid) means no program may text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-zA-Z]{8,64}$")
    auth_token_env: str = "CLOSEDLOOP_TWILIO_AUTH_TOKEN"  # noqa: S105 (a variable's name)
    from_number: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-zA-Z]{8,64}$")
    default_region: str = "US"
    base_url: str = Field(default="https://api.twilio.com", pattern=r"^https?://[^\s/]+")
    timeout: timedelta = timedelta(seconds=10)

    @field_validator("auth_token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV.match(value):
            raise ValueError("expected an environment variable name such as MY_TOKEN")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows; expected an "
                             "ISO 3166 code such as US, GB, NO, FR, DE or ES")
        return region

    @model_validator(mode="after")
    def _sender(self) -> SmsSettings:
        if self.account_sid and not (self.from_number or self.messaging_service_sid):
            raise ValueError("give from_number (E.164, e.g. \"+15005550006\") or "
                             "messaging_service_sid (\"MG...\") for the texts' sender")
        if self.from_number and self.messaging_service_sid:
            raise ValueError("give from_number or messaging_service_sid, not both")
        return self

    @property
    def enabled(self) -> bool:
        return self.account_sid is not None


def check_program_channels(sms: SmsSettings, channels: Mapping[str, str]) -> None:
    """A program that texts needs [sms]; raises ValueError naming the first one."""
    for name, channel in channels.items():
        if channel in TEXTING and not sms.enabled:
            raise ValueError(f"programs.{name}: channel = {channel!r} needs an [sms] table "
                             "with account_sid (the Twilio account)")


def read_sms_token(sms: SmsSettings, environ: Mapping[str, str],
                   problems: list[str]) -> SecretStr | None:
    """The Twilio auth token from the environment when [sms] is set; adds to `problems`."""
    if not sms.enabled:
        return None
    value = environ.get(sms.auth_token_env, "").strip()
    if not value:
        problems.append(f"sms.auth_token_env: environment variable {sms.auth_token_env} is "
                        "not set (expected the Twilio account's auth token)")
    elif any(ch.isspace() or ord(ch) < 32 for ch in value):
        problems.append(f"sms.auth_token_env: environment variable {sms.auth_token_env} "
                        "contains spaces or control characters; expected one token")
    return SecretStr(value)


def texting(channels: Sequence[str]) -> bool:
    """True when any of these program channels may send an SMS."""
    return any(c in TEXTING for c in channels)
