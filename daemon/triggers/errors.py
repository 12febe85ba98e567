"""Why a trigger queued nothing: each a specific message, answered 422 by the endpoints."""

from __future__ import annotations


class TriggerError(ValueError):
    """A trigger that cannot become a survey; `code` is stable (the JSON error's name)."""

    code = "bad_trigger"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnknownProgram(TriggerError):
    """The program named is not configured (the message lists the ones that are)."""

    code = "unknown_program"


class UnknownPerson(TriggerError):
    """Neither the store nor the program's CRM knows the person named."""

    code = "unknown_person"


class BadTrigger(TriggerError):
    """A field is missing or malformed (no person, a bad time zone, an unknown segment...)."""

    code = "bad_trigger"
