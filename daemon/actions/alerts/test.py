"""`closedloop alerts test NAME`: a sample alert through the rule's real channel, now.

Nothing is queued: the point is to see the wiring work (or why not) at the terminal. A
failure is a ClosedLoopError naming the HTTP status and a short reason (exit code 1).
"""

from __future__ import annotations

from datetime import UTC, datetime

from closedloop.daemon.actions.alerts.channels import ChannelError, build_channels
from closedloop.daemon.actions.alerts.settings import channel_secrets
from closedloop.daemon.config import Config
from closedloop.daemon.delivery.compose import Sender
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.integration.errors import ClosedLoopError, ConfigError


def send_test(config: Config, name: str, env: dict[str, str] | None = None) -> str:
    """Deliver a sample to the rule `name`; returns what was done, raises when it failed."""
    rules = {rule.name: rule for rule in config.alerts}
    if name not in rules:
        known = ", ".join(sorted(rules)) or "none configured"
        raise ConfigError([f"alerts test: no alert rule named {name!r} (rules: {known})"])
    rule = rules[name]
    urls = channel_secrets((rule,), env)
    mail = config.mail
    password = None
    if rule.channel == "email" and mail.username:
        from closedloop.daemon.env_secrets import read_secrets

        secret = read_secrets(config, env).smtp_password
        password = secret.get_secret_value() if secret else None
    mailer = SmtpSender(mail.host, mail.port, starttls=mail.security == "starttls",
                        ssl=mail.security == "ssl", username=mail.username, password=password,
                        envelope_from=mail.bounce_address or mail.from_address)
    sender = Sender(address=mail.from_address, name=mail.from_name, reply_to=mail.reply_to)
    channel = build_channels((rule,), urls, mailer, sender)[name]
    payload = {"rule": name, "at": datetime.now(UTC).isoformat()}
    try:
        channel.deliver(0, "test", payload)
    except ChannelError as exc:
        raise ClosedLoopError(f"alerts test {name}: the {rule.channel} channel failed: "
                              f"{exc}") from None
    where = f"{len(rule.to)} address(es)" if rule.channel == "email" else "the webhook"
    return f"alerts test {name}: sample delivered through {rule.channel} to {where}"
