"""The e-mail policy survey mails are written with, and the multipart boundary they share.

The SMTP policy (CRLF line ends) with the parse and fold of headers whose values repeat from
mail to mail memoized; the output is the stdlib's own. Both composers use it: the email
package's (compose.py) and the prepared one (prepared.py).
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.policy import EmailPolicy
from functools import partial
from typing import Any, TypeVar


class _CachedHeaderRegistry(HeaderRegistry):
    """The stdlib registry builds a new class with type() for every header it parses (about
    30 µs each, a fifth of composing a mail); the class depends only on the name, so keep it."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


# Headers whose values repeat from mail to mail (the sender, the MIME structure's own): each
# distinct value is parsed once and folded once per output policy, then shared (header
# objects are immutable). Parsing and folding headers was a third of building a mail.
_CONSTANT = frozenset({
    "from", "reply-to", "auto-submitted", "x-auto-response-suppress",
    "list-unsubscribe-post", "content-language", "mime-version", "content-type",
    "content-transfer-encoding",
})
_PARSED: dict[tuple[str, str], tuple[str, Any]] = {}
_FETCHED: dict[tuple[str, str], Any] = {}
_FOLDED: dict[tuple[str, str, str, int | None, str, bool], bytes] = {}
_MEMO_LIMIT = 4096  # distinct values kept; past it the memo starts over (never unbounded)
K = TypeVar("K")
V = TypeVar("V")


def _memoized(memo: dict[K, V], key: K, make: Callable[[], V]) -> V:
    """`memo[key]`, made once; a full memo starts over."""
    found = memo.get(key)
    if found is None:
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        found = memo[key] = make()
    return found


class _SurveyPolicy(EmailPolicy):
    """The SMTP policy with the constant headers' parse and fold memoized; the output is
    the stdlib's own (the first mail with each value computes it)."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is not str or name.lower() not in _CONSTANT:
            return super().header_store_parse(name, value)
        return _memoized(_PARSED, (name, value), partial(super().header_store_parse, name, value))

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        """A header held as its text (a prepared mail's, a parsed one's) is parsed when read;
        the object is kept for the next read of the same text (the SMTP session and the
        mail channel both read the Message-ID)."""
        if type(value) is not str:
            return super().header_fetch_parse(name, value)
        return _memoized(_FETCHED, (name, value), partial(super().header_fetch_parse, name, value))

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not isinstance(value, BaseHeader) or name.lower() not in _CONSTANT:
            return super().fold_binary(name, value)
        key = (name, str(value), self.linesep, self.max_line_length, self.cte_type,
               self.utf8)
        return _memoized(_FOLDED, key, partial(super().fold_binary, name, value))


# Chosen once per process, in the stdlib generator's own form; used when no body line holds it.
BOUNDARY = f"==============={secrets.randbelow(sys.maxsize):019d}=="
BOUNDARY_LINE = f"--{BOUNDARY}"
ALTERNATIVE = f'multipart/alternative; boundary="{BOUNDARY}"'

POLICY = _SurveyPolicy(linesep="\r\n", header_factory=_CachedHeaderRegistry())  # = SMTP

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(text: str | None) -> str | None:
    """CRM data goes into headers: fold control characters (CR, LF) to spaces, or drop it."""
    if text is None:
        return None
    cleaned = " ".join(_CONTROL.sub(" ", text).split())
    return cleaned or None


def subject_line(title: str) -> str:
    """The Subject header's value: only control characters go (a no-break space before "?"
    is French typography)."""
    return _CONTROL.sub(" ", title).strip()


@dataclass(frozen=True)
class Sender:
    """Who the mail is from; `reply_to` sends answers to a monitored inbox instead."""

    address: str
    name: str
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "localhost"

    def from_address(self) -> Address:
        """The From header's address, its display name on one line."""
        return Address(display_name=one_line(self.name) or "", addr_spec=self.address)
