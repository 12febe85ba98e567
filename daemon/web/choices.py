"""The unsubscribe page's choices: "not for a while" (a snooze of `Policy.snooze`) or "never
again", and the page after either, which can undo it. RFC 8058 one-click POSTs (body
`List-Unsubscribe=One-Click`) mean "never again", with no page to read. A scanner's GET
changes nothing; an expired link still unsubscribes (honouring it late beats ignoring it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store, UnknownSend
from closedloop.daemon.store.preferences import CHOICES, Choice, Preference
from closedloop.daemon.surveys import Policy
from closedloop.daemon.web.failures import PageError
from closedloop.daemon.web.pages import render
from closedloop.daemon.web.survey_ref import Survey, read_form_page
from closedloop.daemon.web.undo import decode_previous, encode_previous

MAX_CHOICE_BODY = 4 * 1024  # "choice=snooze" or "List-Unsubscribe=One-Click", with room
ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058 section 3.1

log = get_logger(component="web")


class ChoiceRoutes:
    """The /u/<token> handlers; `survey_for` reads an unsubscribe token (expired ones too)."""

    def __init__(self, store: Store, clock: Callable[[], datetime], policy: Policy,
                 survey_for: Callable[[Request, str], Survey]) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self._survey_for = survey_for

    def unsubscribe_page(self, request: Request, token: str) -> Response:
        """Offer "not for a while" and "never again"; a scanner's GET must change nothing."""
        survey = self._survey_for(request, token)
        return self._choice_page(survey)

    async def unsubscribe(self, request: Request, token: str) -> Response:
        """Record the choice; an RFC 8058 one-click POST means "never again", without a page
        to read (mail clients send it on the reader's behalf and show nothing)."""
        survey = await run_in_threadpool(
            lambda: self._survey_for(request, token)
        )
        form = await read_form_page(request, MAX_CHOICE_BODY, survey.language)
        one_click = form.get(ONE_CLICK[0]) == ONE_CLICK[1]
        choice = "unsubscribe" if one_click else form.get("choice", "")
        if choice == "undo":
            previous = decode_previous(form.get("previous", ""))
            if previous is not None:
                return await run_in_threadpool(self._undo, survey, previous)
        if choice not in CHOICES:
            log.info("web.unknown_choice", send_id=survey.send.id)
            return self._choice_page(survey, status=400, error=True)
        return await run_in_threadpool(self._record_choice, survey, choice, one_click)

    def _record_choice(self, survey: Survey, choice: Choice, one_click: bool) -> Response:
        now = self.clock()
        until = now + self.policy.snooze if choice == "snooze" else None
        brand = survey.program.branding
        try:
            before = self.store.preference_of(survey.send.id, now)
            preference = self.store.record_preference(survey.send.id, choice, until, now)
        except UnknownSend as exc:
            raise PageError("not_found", survey.language, brand=brand) from exc
        log.info("web.preference_recorded", send_id=survey.send.id, choice=choice,
                 one_click=one_click, unsubscribed=preference.unsubscribed)
        company = survey.program.company
        undo = encode_previous(before)
        if preference.unsubscribed or until is None:
            return render("unsubscribed.html", survey.language, company=company, brand=brand,
                          undo=undo)
        ends = preference.snoozed_until or until
        return render("snoozed.html", survey.language, company=company, brand=brand, undo=undo,
                      date=self._local_date(survey, ends))

    def _undo(self, survey: Survey, previous: Preference) -> Response:
        """"Undo" on the page after a choice: what held before it holds again."""
        try:
            after = self.store.restore_preference(survey.send.id, previous, self.clock())
        except UnknownSend as exc:
            raise PageError("not_found", survey.language, brand=survey.program.branding) from exc
        log.info("web.preference_undone", send_id=survey.send.id,
                 unsubscribed=after.unsubscribed)
        until = self._local_date(survey, after.snoozed_until) if after.snoozed_until else None
        return render("resubscribed.html", survey.language, company=survey.program.company,
                      brand=survey.program.branding, token=survey.token,
                      unsubscribed=after.unsubscribed, date=until)

    def _choice_page(self, survey: Survey, *, status: int = 200, error: bool = False) -> Response:
        until = self.clock() + self.policy.snooze
        return render("unsubscribe.html", survey.language, status=status, error=error,
                      company=survey.program.company, brand=survey.program.branding,
                      date=self._local_date(survey, until))

    def _local_date(self, survey: Survey, moment: datetime) -> str:
        """A date as the reader says it ("1. september 2026"), in their time zone."""
        return format_date(_local_day(moment, survey.send.timezone, self.policy),
                           format="long", locale=survey.language)


def _local_day(moment: datetime, zone: str | None, policy: Policy) -> date:
    """The calendar day of `moment` in the contact's zone (the policy's default if unknown)."""
    for name in (zone, policy.default_timezone):
        if name:
            try:
                return moment.astimezone(ZoneInfo(name)).date()
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return moment.astimezone(UTC).date()
