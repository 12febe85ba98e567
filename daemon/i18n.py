"""Translations for mails and pages, read from the .po files at run time.

English is the source language (the msgids are English), so "en" needs no catalog. Other
languages live in daemon/locale/<lang>/LC_MESSAGES/messages.po; they are parsed with Babel and
compiled in memory on first use, so a translator edits one text file and there is no build step.
The survey wording (questions, scale labels, default follow-up) is here because both the mail
and the response pages show it.
"""

from __future__ import annotations

import gettext as _gettext
import re
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, PackageLoader, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

from closedloop.daemon.surveys import SurveyType

SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

# CRM tags that mean a shipped catalog. Norwegian: HubSpot and Zendesk say "no" for what is
# written in bokmål almost always, and a nynorsk ("nn") reader reads bokmål without effort,
# so both get the bokmål catalog rather than the English fallback.
ALIASES: dict[str, str] = {"no": "nb", "nn": "nb"}


def N_(message: str) -> str:
    """Mark a string for Babel's extractor without translating it yet (tables built at import)."""
    return message


@cache
def available_languages() -> frozenset[str]:
    """The source language plus every language with a messages.po under daemon/locale
    (read once per process: the catalogs ship with the package, and globbing the folder on
    every page cost a fifth of the score page's time)."""
    shipped = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return frozenset({SOURCE_LANGUAGE, *shipped})


def check_language(language: str) -> str:
    """`language` if it has a catalog (or an alias of one), else a ValueError naming them.

    Config validation calls this so a fallback or a text override in a language we do not
    ship fails at startup instead of silently producing English mails.
    """
    available = available_languages()
    if language in available or ALIASES.get(language) in available:
        return language
    aliases = ", ".join(f"{a} = {t}" for a, t in sorted(ALIASES.items()) if t in available)
    raise ValueError(
        f"no translations for {language!r}; available: {', '.join(sorted(available))}"
        + (f" (also {aliases})" if aliases else "")
    )


def negotiate(language: str | None, fallback: str = SOURCE_LANGUAGE) -> str:
    """The shipped language closest to a CRM language tag: "fr-CA" and "fr_ca" -> "fr".

    Anything unknown or empty gives `fallback`, because a mail in the wrong language is
    better than no mail.
    """
    if not language:
        return fallback
    tag = language.strip().replace("_", "-").lower()
    available = available_languages()
    primary = tag.split("-", 1)[0]
    for candidate in (tag, primary, ALIASES.get(primary, "")):
        if candidate in available:
            return candidate
    return fallback


_ACCEPT_ITEM = re.compile(r"^\s*([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q=([0-9.]+))?")


def negotiate_accept_language(header: str | None, fallback: str = SOURCE_LANGUAGE) -> str:
    """The best shipped language for an HTTP Accept-Language header (RFC 9110 q-values)."""
    if not header:
        return fallback
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:20]):
        match = _ACCEPT_ITEM.match(item)
        if not match or match.group(1) == "*":
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if quality > 0:
            ranked.append((-quality, index, match.group(1)))
    for _, _, tag in sorted(ranked):
        found = negotiate(tag, fallback="")
        if found:
            return found
    return fallback


@cache
def _translations(language: str) -> _gettext.NullTranslations:
    """Parse and compile one catalog once per process; fuzzy entries are left out."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == SOURCE_LANGUAGE or not path.is_file():
        return _gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


# French elides "de", "que" and "jusque" before a vowel: "de la part d’Acme", not "de Acme".
# Only before the company's name, the one word a catalog cannot know; an initial "h" is left
# alone (aspirated or not depends on the word), as is a "y" before a vowel ("de Yahoo").
_ELISION: dict[str, tuple[re.Pattern[str], str]] = {
    "fr": (re.compile(r"\b(de|que|jusque) (%\(company\)s)"), "’"),
}
_VOWEL_START = re.compile(r"^(?:[aeiouàâäéèêëîïôöùûüœæ]|y[^aeiouy])", re.IGNORECASE)


def elide(language: str, text: str, company: object) -> str:
    """`text` (a catalog string, placeholders not yet filled) with the word before
    %(company)s elided when the language wants it and the name starts with a vowel."""
    rule = _ELISION.get(language)
    if rule is None or not isinstance(company, str) or not _VOWEL_START.match(company.strip()):
        return text
    pattern, apostrophe = rule
    return pattern.sub(lambda m: f"{m.group(1)[:-1]}{apostrophe}{m.group(2)}", text)


@dataclass(frozen=True)
class Translator:
    """gettext and ngettext for one language, in the shape Jinja2's i18n extension expects."""

    language: str
    translations: _gettext.NullTranslations

    def gettext(self, message: str, **variables: Any) -> str:
        text = self.translations.gettext(message)
        if not variables:
            return text
        return elide(self.language, text, variables.get("company")) % variables

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text % {"num": n, **variables}


def translator(language: str | None, fallback: str = SOURCE_LANGUAGE) -> Translator:
    """The translator for a CRM language tag, negotiated down to a shipped catalog."""
    chosen = negotiate(language, fallback)
    return Translator(chosen, _translations(chosen))


@cache
def jinja_environment(package: str, language: str) -> Environment:
    """A Jinja2 environment per (template package, language), with gettext installed.

    One environment per language (instead of swapping translations on a shared one) keeps
    concurrent renders in different languages from seeing each other's catalogs. HTML
    templates are autoescaped; .txt templates are not (they are plain text parts).
    """
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    tr = translator(language)

    @pass_eval_context
    def gettext(ctx: EvalContext, message: str, **variables: Any) -> str:
        """`_()` in templates: translated, elided, filled; variables escaped in HTML."""
        text = tr.translations.gettext(message)
        if variables:
            text = elide(tr.language, text, variables.get("company"))
        if ctx.autoescape:  # catalog text is ours (as in Jinja's own i18n); values get escaped
            trusted = Markup(text)  # noqa: S704
            return trusted % variables if variables else trusted
        return text % variables if variables else text

    @pass_eval_context
    def ngettext(ctx: EvalContext, singular: str, plural: str, n: int, **variables: Any) -> str:
        text = tr.translations.ngettext(singular, plural, n)
        values = {"num": n, **variables}
        if ctx.autoescape:
            return Markup(text) % values  # noqa: S704 (catalog text; values get escaped)
        return text % values

    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext, ngettext=ngettext, newstyle=False
    )
    return env


# --- survey wording -------------------------------------------------------------------------

QUESTIONS: dict[SurveyType, str] = {
    SurveyType.NPS: N_("How likely are you to recommend %(company)s to a friend or colleague?"),
    SurveyType.CSAT: N_("How satisfied are you with the support you received from %(company)s?"),
    SurveyType.CES: N_("How easy was it to get your issue resolved?"),
}

SCALE_LABELS: dict[SurveyType, tuple[str, str]] = {
    SurveyType.NPS: (N_("Not at all likely"), N_("Extremely likely")),
    SurveyType.CSAT: (N_("Very dissatisfied"), N_("Very satisfied")),
    SurveyType.CES: (N_("Very difficult"), N_("Very easy")),
}

DEFAULT_FOLLOW_UP = N_("What is the main reason for your score?")


@dataclass(frozen=True)
class Wording:
    """Everything a mail or page says about one survey, already in the reader's language."""

    question: str
    low_label: str
    high_label: str
    follow_up: str


def wording(
    survey: SurveyType, company: str, follow_up: str | None, tr: Translator
) -> Wording:
    """The localized question and labels; a configured follow-up is shown as written."""
    low, high = SCALE_LABELS[survey]
    return Wording(
        question=tr.gettext(QUESTIONS[survey], company=company),
        low_label=tr.gettext(low),
        high_label=tr.gettext(high),
        follow_up=follow_up or tr.gettext(DEFAULT_FOLLOW_UP),
    )
