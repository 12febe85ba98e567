"""A program's own wording, per language, in place of the catalog's.

An admin may override any of TEXT_KEYS per language in `[programs.texts.<lang>]`. Those texts
are written by people, not translators, so filling them must never fail: `{company}` and
`{first_name}` (and whatever the caller passes) are filled in, and any other brace — an unknown
`{name}`, a lone `{`, `{0}` — is left exactly as written instead of raising like str.format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from closedloop.daemon.i18n import ALIASES, Translator, Wording, wording
from closedloop.daemon.surveys import Program

# The keys a program may override (daemon.config validates the same list on load).
TEXT_KEYS = frozenset(
    {"subject", "intro", "question", "follow_up", "thanks", "reminder_subject", "reminder_intro"}
)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace `{name}` for each name in `values`; leave every other brace untouched."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return values[name] if name in values else match.group(0)

    return _PLACEHOLDER.sub(replace, text)


def override(program: Program, key: str, language: str) -> str | None:
    """The program's text for `key` in `language`, or None when the admin set none.

    A text configured under an alias of the language ("no" for Norwegian, which we serve as
    bokmål "nb") counts as that language's, so `[programs.texts.no]` is not silently ignored.
    """
    if key not in TEXT_KEYS:
        raise ValueError(f"unknown text key {key!r}; expected one of {sorted(TEXT_KEYS)}")
    candidates = [language, *(alias for alias, target in ALIASES.items() if target == language)]
    for candidate in candidates:
        text = program.texts.get(candidate, {}).get(key)
        if text:
            return text
    return None


def program_text(program: Program, key: str, language: str, default: str, **values: str) -> str:
    """The override for `key` in `language` with placeholders filled, else `default` as is.

    `default` is the caller's already-translated catalog text (its own %-placeholders are
    already filled), so it is returned untouched. `values` usually carries `company` and
    `first_name`; pass "" for an unknown first name rather than leaving the placeholder.
    """
    text = override(program, key, language)
    if text is None:
        return default
    return fill(text, values)


def program_wording(program: Program, tr: Translator, first_name: str = "") -> Wording:
    """The survey's question, labels and follow-up in `tr`'s language, with the program's
    overrides applied: the mail and the response pages both ask exactly this."""
    base = wording(program.type, program.company, program.follow_up, tr)
    values = {"company": program.company, "first_name": first_name}
    return replace(
        base,
        question=program_text(program, "question", tr.language, base.question, **values),
        follow_up=program_text(program, "follow_up", tr.language, base.follow_up, **values),
    )
