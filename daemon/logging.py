"""structlog set-up: key-value events, JSON off a terminal, and redaction of secrets and addresses.

Redaction is a processor, not a habit: whatever a job binds, no e-mail address and no
token-like value reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
# Keys whose value is a secret whatever it looks like. Addresses are found by their value
# instead (anywhere, at any depth), so a count such as skipped_no_email=3 still prints.
_SECRET_KEYS = re.compile(r"(?i)(token|secret|password|passwd|authorization|api_?key|cookie)")


def _secret(key: object, value: Any) -> bool:
    """A secret-named key hides its value, unless it is a number or a flag (never a secret)."""
    return bool(_SECRET_KEYS.search(str(key))) and not isinstance(value, int | float | None)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _BEARER.sub(r"\1[redacted]", _EMAIL.sub("[email]", value))
    if isinstance(value, dict):
        return {_scrub(k): "[redacted]" if _secret(k, v) else _scrub(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Hide the values of secret-named keys; mask e-mail addresses and bearer tokens in every
    other value, nested ones included."""
    for key in list(event):
        if key != "event" and _secret(key, event[key]):
            event[key] = "[redacted]"
        else:
            event[key] = _scrub(event[key])
    return event


class _ScrubFilter(logging.Filter):
    """The same redaction for third-party stdlib logs (uvicorn, apscheduler, urllib3)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _scrub(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_scrub(a) for a in record.args)
        elif record.args:
            record.args = _scrub(dict(record.args))
        return True


def configure(fmt: Literal["auto", "json", "console"] = "auto", level: int = logging.INFO) -> None:
    """Configure structlog once per process; `auto` picks JSON unless stderr is a terminal."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (structlog.processors.JSONRenderer() if use_json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Resolve sys.stderr per logger, not once: tests and embedders swap the stream.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries log through stdlib logging; keep them quiet unless they warn.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _ScrubFilter) for f in handler.filters):
            handler.addFilter(_ScrubFilter())
    for noisy in ("uvicorn.access", "urllib3", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A run skipped because the previous one still runs is the intended max_instances=1.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def get_logger(**context: Any) -> Any:
    """A structlog logger with bound context (source, program, job)."""
    return structlog.get_logger(**context)  # stays lazy: configure() may come after import
