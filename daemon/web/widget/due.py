"""Whether an in-page survey is due for a visitor, and the card that shows it.

The one rule engine decides (daemon/rules.decide), on the person's ledger and rows from the
store, exactly as dispatch does for a mail: suppressions, each program's cooldown, the
global cooldown across every channel (someone mailed a survey this week is not asked
in-page), sampling, paused programs. Two differences, on purpose: quiet hours do not apply
(the person is using the site right now, nobody is woken up), send days do (a team that
surveys no one on Sundays does not want the card on Sundays either). A "defer" therefore
means no card today, or (`survey_in_flight`: a mail survey to the person is on its way or
claimed by a dispatcher whose rules were read before the card, and the card would count
against it or it against the card) none until that mail's outcome is known: its lease's
end, half a minute or so, longer while a dispatcher's batch holds it.

Before the rules: "Not now" (per site and person, its own cooldown), then an in-page survey
shown within REOFFER and not answered, which is offered again (a reload or a route change
must not lose it; it already counts in the ledger). When due, the survey is written to
the outbox as sent (Store.open_web_survey) before the card is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from closedloop.daemon.i18n import N_, negotiate, translator
from closedloop.daemon.rules import Action, Due, Facts, decide
from closedloop.daemon.store import NewSend, SendRecord, Store, normalize_email
from closedloop.daemon.store.ledger import OthersClaims
from closedloop.daemon.store.widget import WEB, WIDGET, KnownContact
from closedloop.daemon.surveys import Policy, Program
from closedloop.daemon.texts import program_wording
from closedloop.daemon.web.widget.settings import Site

REOFFER = timedelta(hours=1)  # an unanswered card comes back on the next page this long
ANSWER_WINDOW = timedelta(days=1)  # a card's answer (or a change of it) is taken this long
NOT_NOW = N_("Not now")
CLOSE = N_("Close")
SEND = N_("Send")
OPTIONAL = N_("(optional)")
THANKS = N_("Thank you for your answer!")
FAILED = N_("We could not save your answer right now")


@dataclass(frozen=True)
class Visitor:
    """Who the page says it is (e-mail verified by identity.py); the rest is a hint."""

    email: str
    name: str | None = None
    language: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A survey to show (with its program), or the reason there is none."""

    send: SendRecord | None = None
    program: Program | None = None
    reason: str | None = None


def survey_for(store: Store, site: Site, programs: Mapping[str, Program], policy: Policy,
               visitor: Visitor, now: datetime,
               lookup: Callable[[str, str], KnownContact | None] | None = None) -> Verdict:
    """The survey this visitor is shown now on `site`, stored as sent; or why none.
    `lookup` reads a visitor the store never met from the program's CRM (lookup.py)."""
    until = store.widget_dismissed_until(site.name, visitor.email)
    if until is not None and now < until:
        return Verdict(reason="not_now")
    person = normalize_email(visitor.email)
    facts = Facts(suppressed=bool(store.suppressed_among([person], now)))
    if facts.suppressed:  # an unsubscribe since the card was shown takes it away too
        return Verdict(reason="suppressed")
    names = [name for name in site.programs if name in programs]
    shown = store.open_web_surveys(visitor.email, names, now - REOFFER)
    if shown:
        return Verdict(shown[0], programs[shown[0].program])
    book = store.person_book([person], OthersClaims(in_turn=False))  # a claimed mail counts
    in_page = replace(policy, quiet_start=None, quiet_end=None)
    reason = "no_program"
    for name in names:
        program = programs[name]
        contact = store.known_contact(visitor.email, program.source)
        if contact is None and lookup is not None:
            contact = lookup(visitor.email, program.source)
        if contact is None:
            reason = "unknown_contact"
            continue
        key = f"widget:{site.name}:{name}:{contact.contact_id}:{now.date().isoformat()}"
        zone = visitor.timezone or contact.timezone
        due = Due(key=key, program=name, kind="survey", person=person, ticket_id=None,
                  closed_at=None, created_at=now, due_at=now, timezone=zone)
        decision = decide(due, program, in_page, now, book, facts)
        if decision.action is not Action.SEND:
            reason = str(decision.reason)
            continue
        send = store.open_web_survey(NewSend(
            idem_key=key, program=name, survey_type=program.type.value, source=program.source,
            contact_id=contact.contact_id, due_at=now, created_at=now, email=visitor.email,
            first_name=visitor.name or contact.first_name,
            language=visitor.language or contact.language, timezone=zone, status="sent",
            channel=WEB, trigger=WIDGET, reference=f"site:{site.name}"), now)
        if store.get_response(send.id) is not None:  # today's, already answered
            return Verdict(reason="answered")
        return Verdict(send, program)
    return Verdict(reason=reason)


def card(send: SendRecord, program: Program, fallback_language: str) -> dict[str, Any]:
    """What widget.js shows: the question, scale and texts in the person's language."""
    language = negotiate(send.language, fallback_language)
    tr = translator(language)
    words = program_wording(program, tr, send.first_name or "")
    return {
        "id": send.id,
        "type": program.type.value,
        "language": language,
        "question": words.question,
        "low_label": words.low_label,
        "high_label": words.high_label,
        "points": program.scale.points,
        "follow_up": words.follow_up,
        "color": program.branding.color,  # the program's brand colour (a checked #rrggbb)
        "texts": {"not_now": tr.gettext(NOT_NOW), "close": tr.gettext(CLOSE),
                  "send": tr.gettext(SEND), "optional": tr.gettext(OPTIONAL),
                  "thanks": tr.gettext(THANKS), "failed": tr.gettext(FAILED)},
    }
