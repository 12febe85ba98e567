"""Static seed data for the HubSpot sandbox: pipelines, property definitions, names.

Kept as plain data (no behaviour) so the state module stays about state, and so the
defaults that tests and the demo rely on are visible in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .. import _seed
from .._seed import NAMES, REGIONS, STORES

EPOCH_ISO: Final = "2024-01-02T09:00:00.000Z"
"""createdAt/updatedAt of everything HubSpot itself defines (default pipelines, properties)."""

DEFAULT_TOKEN: Final = "sandbox-token"  # noqa: S105 - the public, fixed local demo token
DEFAULT_SCOPES: Final = (
    "tickets",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.lists.read",
)
HUB_ID: Final = 20260101
APP_ID: Final = 4242001
USER_ID: Final = 7700001
DAILY_LIMIT: Final = 625_000

TICKET_TO_CONTACT_TYPE_ID: Final = 16
# HUBSPOT_DEFINED association type ids a note may carry when it is created (notes guide).
NOTE_TO_CONTACT_TYPE_ID: Final = 202
NOTE_TO_TICKET_TYPE_ID: Final = 228
TICKET_TO_NOTE_TYPE_ID: Final = 227  # the same link read from the ticket's side
NOTE_ASSOCIATION_TARGETS: Final = {NOTE_TO_CONTACT_TYPE_ID: "contacts",
                                   NOTE_TO_TICKET_TYPE_ID: "tickets"}
NOTE_BODY_MAX: Final = 65_536  # characters HubSpot keeps in hs_note_body
# HUBSPOT_DEFINED association type ids of a task (associations v4 type list).
TASK_TO_CONTACT_TYPE_ID: Final = 204
TASK_TO_TICKET_TYPE_ID: Final = 230
CONTACT_TO_TASK_TYPE_ID: Final = 203  # the same link read from the contact's side
TASK_ASSOCIATION_TARGETS: Final = {TASK_TO_CONTACT_TYPE_ID: "contacts",
                                   TASK_TO_TICKET_TYPE_ID: "tickets"}

# (pipeline id, label, [(stage id, label, ticketState)])
PIPELINES: Final[tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...]] = (
    ("0", "Support Pipeline", (
        ("1", "New", "OPEN"),
        ("2", "Waiting on contact", "OPEN"),
        ("3", "Waiting on us", "OPEN"),
        ("4", "Closed", "CLOSED"),
    )),
    ("5", "Billing", (
        ("6", "Open", "OPEN"),
        ("7", "Resolved", "CLOSED"),
        ("8", "Rejected", "CLOSED"),
    )),
)

OWNER_IDS: Final = ("71000001", "71000002", "71000003", "71000004", "71000005")
TEAM_IDS: Final = ("4100001", "4100002", "4100003")
PRIORITIES: Final = ("LOW", "MEDIUM", "HIGH", "URGENT")

LANGUAGE_OPTIONS: Final = (
    ("en", "English"), ("fr", "French"), ("nb", "Norwegian Bokmål"), ("de", "German"),
    ("es", "Spanish"), ("it", "Italian"), ("nl", "Dutch"), ("pt-br", "Portuguese - Brazil"),
    ("sv", "Swedish"), ("da", "Danish"), ("fi", "Finnish"), ("ja", "Japanese"),
)

# language -> (first names, last names, mail domains)
PEOPLE: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]] = {
    "en": (*NAMES["en"], ("example.com", "example.co.uk")),
    "fr": (*NAMES["fr"], ("exemple.fr", "example.fr")),
    "nb": (*NAMES["nb"], ("eksempel.no", "example.no")),
    "de": (*NAMES["de"], ("beispiel.de", "example.de")),
    "es": (*NAMES["es"], ("ejemplo.es", "example.es")),
}
LANGUAGE_WEIGHTS: Final = (("en", 45), ("fr", 15), ("nb", 12), ("de", 15), ("es", 13))

# IANA zones a contact of each language is seeded with (stored in HubSpot's encoding).
ZONES_BY_LANGUAGE: Final[dict[str, tuple[str, ...]]] = {
    "en": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
           "Europe/London", "Australia/Sydney"),
    "fr": ("Europe/Paris", "Europe/Brussels", "America/Montreal"),
    "nb": ("Europe/Oslo",),
    "de": ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich"),
    "es": ("Europe/Madrid", "America/Mexico_City", "America/Argentina/Buenos_Aires",
           "America/Bogota"),
}
# More of HubSpot's hs_timezone options, incl. the awkward ones (hyphens, legacy links).
EXTRA_ZONES: Final = ("America/Port-au-Prince", "US/Eastern", "US/Pacific", "Asia/Ust-Nera",
                      "Brazil/DeNoronha", "Asia/Tokyo", "Asia/Kolkata", "Pacific/Honolulu",
                      "Europe/Kiev", "Cuba")
# The seeded contact list of every contact in lifecycle stage "customer" (the NPS list of
# config.example.toml, so the example config passes `closedloop check --online` here).
CUSTOMERS_LIST_ID: Final = "42"
CUSTOMERS_LIST_NAME: Final = "Customers"
COMPANY_IDS: Final = ("9100001", "9100002", "9100003", "9100004", "9100005", "9100006")
SUBJECTS: Final = _seed.SUBJECTS  # the same for both sandboxes


def _prop(
    name: str, label: str, type_: str, field_type: str, *, group: str = "contactinformation",
    read_only: bool = False, options: tuple[tuple[str, str], ...] = (), unique: bool = False,
    order: int = -1, custom: bool = False,
) -> dict[str, Any]:
    """One HubSpot-defined property in the v3 Property shape (`custom`: one the portal's
    admin created, hubspotDefined false)."""
    return {
        "name": name, "label": label, "type": type_, "fieldType": field_type,
        "description": "", "groupName": group,
        "options": [{"label": lab, "value": val, "displayOrder": i, "hidden": False}
                    for i, (val, lab) in enumerate(options)],
        "displayOrder": order, "calculated": False, "externalOptions": False,
        "hasUniqueValue": unique, "hidden": False, "hubspotDefined": not custom,
        "modificationMetadata": {"archivable": not read_only, "readOnlyDefinition": True,
                                 "readOnlyValue": read_only},
        "formField": not read_only, "dataSensitivity": "non_sensitive",
        "createdAt": EPOCH_ISO, "updatedAt": EPOCH_ISO, "archived": False,
    }


LIFECYCLE_OPTIONS: Final = (
    ("subscriber", "Subscriber"), ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
    ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other"),
)
OWNER_OPTIONS: Final = tuple((o, f"Owner {o}") for o in OWNER_IDS)


def hubspot_timezone(zone: str) -> str:
    """HubSpot's hs_timezone option value for a zone: "America/Port-au-Prince" ->
    "america_slash_port_hyphen_au_hyphen_prince" (an already-encoded value is unchanged)."""
    return zone.lower().replace("/", "_slash_").replace("-", "_hyphen_")


def _timezone_options() -> tuple[tuple[str, str], ...]:
    zones = dict.fromkeys([z for zs in ZONES_BY_LANGUAGE.values() for z in zs] + list(EXTRA_ZONES))
    return tuple((hubspot_timezone(z), z.replace("_", " ")) for z in zones)


def _place(name: str) -> str:
    return name.replace("_", " ").title()


# The portal's own properties for where customers shop (see _seed.REGIONS): enumerations,
# so their values are the option values ("oslo"), as any custom select property's are.
REGION_PROPERTY: Final = "region"
STORE_PROPERTY: Final = "store"


def contact_properties() -> list[dict[str, Any]]:
    """The default contact properties a fresh portal has (the subset the project touches)."""
    return [
        _prop("email", "Email", "string", "text", unique=True),
        _prop("firstname", "First Name", "string", "text"),
        _prop("lastname", "Last Name", "string", "text"),
        _prop("phone", "Phone Number", "string", "phonenumber"),
        _prop("mobilephone", "Mobile Phone Number", "string", "phonenumber"),
        _prop("company", "Company Name", "string", "text"),
        _prop("jobtitle", "Job Title", "string", "text"),
        _prop("city", "City", "string", "text"),
        _prop("country", "Country/Region", "string", "text"),
        _prop("hs_language", "Preferred language", "enumeration", "select",
              options=LANGUAGE_OPTIONS),
        _prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio",
              options=LIFECYCLE_OPTIONS),
        _prop("hubspot_owner_id", "Contact owner", "enumeration", "select",
              options=OWNER_OPTIONS),
        _prop("hs_email_optout", "Unsubscribed from all email", "enumeration",
              "booleancheckbox", options=(("true", "Yes"), ("false", "No")), read_only=True),
        _prop("hs_timezone", "Time Zone", "enumeration", "select", options=_timezone_options()),
        _prop("associatedcompanyid", "Primary Associated Company ID", "number", "number"),
        _prop("hs_lifecyclestage_customer_date", "Became a Customer Date", "datetime", "date",
              group="contact_activity", read_only=True),
        _prop("createdate", "Create Date", "datetime", "date", read_only=True),
        _prop("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        _prop("hs_object_id", "Record ID", "number", "number", read_only=True, unique=True),
        _prop("hs_feedback_last_nps_rating", "Last NPS survey rating", "enumeration", "select",
              group="feedback_information",
              options=tuple((str(i), str(i)) for i in range(11)), read_only=True),
        _prop("hs_feedback_last_survey_date", "Last NPS survey date", "datetime", "date",
              group="feedback_information", read_only=True),
        _prop(REGION_PROPERTY, "Region", "enumeration", "select", custom=True,
              options=tuple((r, _place(r)) for r in REGIONS)),
    ]


def ticket_properties() -> list[dict[str, Any]]:
    """The default ticket properties the search API and the adapter use."""
    pipeline_opts = tuple((pid, label) for pid, label, _ in PIPELINES)
    stage_opts = tuple((sid, label) for _, _, stages in PIPELINES for sid, label, _ in stages)
    group = "ticketinformation"
    return [
        _prop("subject", "Ticket name", "string", "text", group=group),
        _prop("content", "Ticket description", "string", "textarea", group=group),
        _prop("hs_pipeline", "Pipeline", "enumeration", "select", group=group,
              options=pipeline_opts),
        _prop("hs_pipeline_stage", "Ticket status", "enumeration", "select", group=group,
              options=stage_opts),
        _prop("closed_date", "Close date", "datetime", "date", group=group, read_only=True),
        _prop("hubspot_owner_id", "Ticket owner", "enumeration", "select", group=group,
              options=OWNER_OPTIONS),
        _prop("hubspot_team_id", "HubSpot Team", "enumeration", "select", group=group,
              options=tuple((t, f"Team {t}") for t in TEAM_IDS)),
        _prop("hs_ticket_priority", "Priority", "enumeration", "select", group=group,
              options=tuple((p, p.title()) for p in PRIORITIES)),
        _prop("createdate", "Create date", "datetime", "date", group=group, read_only=True),
        _prop("hs_lastmodifieddate", "Last modified date", "datetime", "date", group=group,
              read_only=True),
        _prop("hs_object_id", "Ticket ID", "number", "number", group=group, read_only=True),
        _prop(STORE_PROPERTY, "Store", "enumeration", "select", group=group, custom=True,
              options=tuple((s, _place(s)) for s in STORES)),
    ]


def note_properties() -> list[dict[str, Any]]:
    """The note (engagement) properties a note is created with."""
    group = "engagement"
    return [
        _prop("hs_note_body", "Note body", "string", "html", group=group),
        _prop("hs_timestamp", "Activity date", "datetime", "date", group=group),
        _prop("hubspot_owner_id", "Activity assigned to", "enumeration", "select", group=group,
              options=OWNER_OPTIONS),
        _prop("hs_createdate", "Create date", "datetime", "date", group=group, read_only=True),
        _prop("hs_lastmodifieddate", "Last modified date", "datetime", "date", group=group,
              read_only=True),
        _prop("hs_object_id", "Record ID", "number", "number", group=group, read_only=True),
    ]


def task_properties() -> list[dict[str, Any]]:
    """The task (engagement) properties a task is created with (crm-tasks-v3)."""
    group = "task"
    return [
        _prop("hs_task_subject", "Task Title", "string", "text", group=group),
        _prop("hs_task_body", "Notes", "string", "html", group=group),
        _prop("hs_timestamp", "Due date", "datetime", "date", group=group),
        _prop("hs_task_status", "Task Status", "enumeration", "select", group=group,
              options=(("NOT_STARTED", "Not started"), ("IN_PROGRESS", "In progress"),
                       ("WAITING", "Waiting"), ("COMPLETED", "Completed"),
                       ("DEFERRED", "Deferred"))),
        _prop("hs_task_priority", "Priority", "enumeration", "select", group=group,
              options=(("NONE", "None"), ("LOW", "Low"), ("MEDIUM", "Medium"),
                       ("HIGH", "High"))),
        _prop("hs_task_type", "Task Type", "enumeration", "select", group=group,
              options=(("TODO", "To-do"), ("CALL", "Call"), ("EMAIL", "Email"))),
        _prop("hubspot_owner_id", "Assigned to", "enumeration", "select", group=group,
              options=OWNER_OPTIONS),
        _prop("hs_createdate", "Create date", "datetime", "date", group=group, read_only=True),
        _prop("hs_lastmodifieddate", "Last modified date", "datetime", "date", group=group,
              read_only=True),
        _prop("hs_object_id", "Record ID", "number", "number", group=group, read_only=True),
    ]


PROPERTY_GROUPS: Final = {
    "contacts": (("contactinformation", "Contact information"),
                 ("contact_activity", "Contact activity"),
                 ("feedback_information", "Feedback information")),
    "tickets": (("ticketinformation", "Ticket information"),),
    "notes": (("engagement", "Engagement"),),
    "tasks": (("task", "Task information"),),
}

TICKET_DEFAULT_PROPERTIES: Final = (
    "content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline",
    "hs_pipeline_stage", "hs_ticket_priority", "subject",
)
TICKET_ALWAYS: Final = ("hs_object_id", "createdate", "hs_lastmodifieddate")
CONTACT_DEFAULT_PROPERTIES: Final = (
    "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname",
)
CONTACT_ALWAYS: Final = ("hs_object_id", "createdate", "lastmodifieddate")
NOTE_ALWAYS: Final = ("hs_object_id", "hs_createdate", "hs_lastmodifieddate")
TASK_ALWAYS: Final = NOTE_ALWAYS


def returned_properties(known: Mapping[str, Any], requested: object, defaults: Sequence[str],
                        always: Sequence[str]) -> list[str]:
    """The properties HubSpot returns: those asked for that exist plus its always-on ones,
    or the object's defaults when none were asked for."""
    if isinstance(requested, list) and requested:
        return [n for n in dict.fromkeys([*requested, *always]) if n in known]
    return list(defaults)
