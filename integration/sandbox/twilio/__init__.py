"""A Twilio-compatible SMS gateway on 127.0.0.1 for the real `twilio` client (see server.py)."""

from .server import TwilioSandbox, sign

__all__ = ["TwilioSandbox", "sign"]
