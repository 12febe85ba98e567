"""A validated mapping bound to the configured programs: what exists in the CRM, what is written.

Property names are templates on a program's property prefix ("{prefix}_last_rating"), so
two NPS programs (one per product line) keep separate values on one contact. Each survey
type's default prefix ("cl_<type>") is always present: it is where answers of a program
that was since removed from the config still land. Survey-agnostic properties
(cl_feedback_*) are shared by every program.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from closedloop.daemon.surveys import SurveyType, category
from closedloop.integration.base import PropertySpec
from closedloop.mappings.hooks import Hooks

SURVEYS = ("csat", "ces", "nps", "any")
ANSWER_VALUES = ("score", "comment", "category", "answered_at", "answered_date", "sent_at",
                 "updated_at", "survey_type", "program", "themes")
PREFERENCE_VALUES = ("unsubscribed", "unsubscribed_at", "snoozed_until")
VALUES = ANSWER_VALUES + PREFERENCE_VALUES
_TIMES = ("answered_at", "answered_date", "sent_at", "updated_at", "unsubscribed_at",
          "snoozed_until")
MAX_TEXT = 65_000  # HubSpot string properties hold 65,536 characters
KINDS = ("answer", "sent", "preference")  # write-back facts render() knows


def default_prefix(survey: str) -> str:
    return f"cl_{survey}"


@dataclass(frozen=True)
class PropertyTemplate:
    """One validated [[property]] before expansion; name/label/description are templates."""

    name: str
    label: str
    type: str
    field_type: str
    description: str
    survey: str
    value: str
    kind: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class MappedProperty:
    """One CRM property: its spec, where its value comes from, and its prefix (None: shared)."""

    spec: PropertySpec
    survey: str
    value: str
    kind: str
    prefix: str | None = None


def expand(template: PropertyTemplate, prefix: str | None, programs: Sequence[str],
           object_type: str = "contacts") -> MappedProperty:
    """A template filled in for one prefix; `{program}` names the programs that use it."""
    values = {"prefix": prefix or "", "program": ", ".join(programs) or "default"}
    spec = PropertySpec(name=template.name.format(**values),
                        label=template.label.format(**values), type=template.type,
                        field_type=template.field_type,
                        description=template.description.format(**values),
                        options=template.options, object_type=object_type)
    return MappedProperty(spec=spec, survey=template.survey, value=template.value,
                          kind=template.kind, prefix=prefix)


def _utc(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _format(prop: MappedProperty, raw: Any) -> str:
    """One value as the CRM wants it: closed set of formats chosen by the property's kind."""
    if prop.value in _TIMES:
        when = _utc(raw)
        if prop.kind == "date" or prop.value == "answered_date":
            return when.date().isoformat()  # a date property takes midnight UTC
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif prop.kind == "number":
        return str(int(raw))
    else:
        text = str(raw)
    if prop.kind in ("choice", "bool") and prop.spec.options and text not in prop.spec.options:
        raise ValueError(f"{text!r} is not an option of {prop.spec.name}")
    return text[:MAX_TEXT]


@dataclass(frozen=True)
class CrmMapping:
    """A validated mapping: what `setup` creates and how a write-back fact becomes values.

    `properties` is every contact property after expansion (each survey's prefixes, then
    the shared ones); `ticket_properties` the same for the ticket a survey was about
    (HubSpot's [[ticket_property]]); `prefixes` maps a program name to its property prefix.
    """

    crm: str
    group_name: str
    group_label: str
    properties: tuple[MappedProperty, ...]
    hooks: Hooks = field(default_factory=Hooks)
    prefixes: Mapping[str, str] = field(default_factory=dict)
    ticket_properties: tuple[MappedProperty, ...] = ()
    # comment, language -> theme names (daemon.insight.themes), for a `themes` property
    comment_themes: Callable[[str | None, str | None], tuple[str, ...]] | None = field(
        default=None, compare=False)

    def specs(self) -> list[PropertySpec]:
        """What `setup` creates: contact properties, then ticket properties."""
        return [p.spec for p in (*self.properties, *self.ticket_properties)]

    def ticket_property_names(self) -> list[str]:
        return [p.spec.name for p in self.ticket_properties]

    def render_ticket(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Ticket property strings for one answer (a 'hook' write-back row's data).

        The answer's own program prefix and the shared (survey "any") ticket properties;
        an answer without a comment clears the comment (a re-score never keeps an older
        text). Raises ValueError like `render` for data no property can hold.
        """
        if not self.ticket_properties:
            return {}
        survey = str(data.get("survey_type") or "")
        if survey not in SURVEYS[:-1]:
            raise ValueError(f"{survey!r} is not a known survey type; expected one of "
                             f"{', '.join(SURVEYS[:-1])}")
        values = dict(data)
        values.setdefault("answered_date", values.get("answered_at"))
        if not values.get("category"):
            values["category"] = category(SurveyType(survey), int(values["score"]))
        prefix = self.prefix_of(values.get("program"), survey)
        out: dict[str, str] = {}
        for prop in self.ticket_properties:
            if (prop.survey, prop.prefix) not in ((survey, prefix), ("any", None)):
                continue
            raw = values.get(prop.value)
            if raw is None or raw == "":
                if prop.value == "comment":
                    out[prop.spec.name] = ""
                continue
            out[prop.spec.name] = _format(prop, raw)
        return out

    def property_names(self) -> list[str]:
        return [p.spec.name for p in self.properties]

    @cached_property
    def _by_instance(self) -> dict[tuple[str, str | None], tuple[MappedProperty, ...]]:
        out: dict[tuple[str, str | None], list[MappedProperty]] = {}
        for prop in self.properties:
            out.setdefault((prop.survey, prop.prefix), []).append(prop)
        return {key: tuple(props) for key, props in out.items()}

    def prefix_of(self, program: str | None, survey: str) -> str:
        """The prefix a program writes to; an unknown (removed) program: the type's default."""
        prefix = self.prefixes.get(program or "")
        if prefix is not None and (survey, prefix) in self._by_instance:
            return prefix
        return default_prefix(survey)

    def render(self, data: Mapping[str, Any], *, kind: str | None = None,
               newest: bool = True) -> dict[str, str]:
        """Property strings for one write-back fact: an answer, a "sent" event, a preference.

        `kind` None infers answer (a `score` is present) or sent. An answer writes every
        answer property of its program's prefix and the shared ones; a "sent" fact writes
        only `sent_at` properties; a preference only the preference properties (a None
        value clears them: a snooze that ended, a resubscribe). A missing value leaves its
        property alone, except the comment of the newest answer: it is cleared (""), so the
        record never pairs a new score with an older answer's comment. Pass `newest=False`
        for an answer that is not the contact's latest. Raises ValueError for data no
        property can hold (an unknown survey type, a category that is not an option): a bug
        upstream, not a CRM problem.
        """
        if kind is None:
            kind = "answer" if data.get("score") is not None else "sent"
        if kind not in KINDS:
            raise ValueError(f"{kind!r} is not a kind of write-back fact; expected one of "
                             f"{', '.join(KINDS)}")
        if kind == "preference":
            return self._render_preference(data)
        survey = str(data.get("survey_type") or "")
        if survey not in SURVEYS[:-1]:
            raise ValueError(f"{survey!r} is not a known survey type; expected one of "
                             f"{', '.join(SURVEYS[:-1])}")
        values = dict(data)
        if kind == "answer":
            values.setdefault("answered_date", values.get("answered_at"))
            if not values.get("category"):
                values["category"] = category(SurveyType(survey), int(values["score"]))
            if self.comment_themes is not None:
                values["themes"] = ",".join(self.comment_themes(
                    values.get("comment"), values.get("language")))
        own = self._by_instance.get((survey, self.prefix_of(values.get("program"), survey)), ())
        out: dict[str, str] = {}
        for prop in own + self._by_instance.get(("any", None), ()):
            if prop.value in PREFERENCE_VALUES or (kind == "sent" and prop.value != "sent_at"):
                continue
            raw = values.get(prop.value)
            if prop.value in ("comment", "themes") and not raw:
                if newest and (prop.value == "comment" or "themes" in values):
                    out[prop.spec.name] = ""
                continue
            if raw is None or raw == "":
                continue
            out[prop.spec.name] = _format(prop, raw)
        return out

    def _render_preference(self, data: Mapping[str, Any]) -> dict[str, str]:
        unsubscribed = bool(data.get("unsubscribed"))
        values = {"unsubscribed": unsubscribed,
                  "unsubscribed_at": data.get("updated_at") if unsubscribed else None,
                  "snoozed_until": data.get("snoozed_until")}
        out: dict[str, str] = {}
        for prop in self.properties:
            if prop.value in PREFERENCE_VALUES:
                raw = values[prop.value]
                out[prop.spec.name] = "" if raw is None or raw == "" else _format(prop, raw)
        return out

    def blank_all(self) -> dict[str, str]:
        """Every mapped property of every prefix emptied: what `closedloop forget` writes."""
        return {p.spec.name: "" for p in self.properties}
