"""Links from a report row to the CRM record it is about (the dashboard's drill-down).

HubSpot's record pages need the account's portal id, which the API token does not give:
`portal_id` on the source when the config has one; otherwise a source pointed at a local
sandbox links to the sandbox's own view of the ticket, and a real one gets no link rather
than a wrong one. Zendesk's agent view follows from the subdomain.
"""

from __future__ import annotations

from urllib.parse import quote

HUBSPOT_API = "https://api.hubapi.com"


def record_url(source_settings: object, crm: str, ticket_id: str | None,
               contact_id: str | None) -> str | None:
    """The CRM page of the ticket (else the contact) a survey was about; None if unknown."""
    ticket = quote(ticket_id, safe="") if ticket_id else None
    contact = quote(contact_id, safe="") if contact_id else None
    if crm == "zendesk":
        subdomain = getattr(source_settings, "subdomain", None)
        if not subdomain:
            return None
        base = f"https://{subdomain}.zendesk.com/agent"
        return (f"{base}/tickets/{ticket}" if ticket
                else f"{base}/users/{contact}" if contact else None)
    if crm != "hubspot":
        return None
    portal = getattr(source_settings, "portal_id", None)
    if portal:
        base = f"https://app.hubspot.com/contacts/{quote(str(portal), safe='')}/record"
        return (f"{base}/0-5/{ticket}" if ticket
                else f"{base}/0-1/{contact}" if contact else None)
    api = str(getattr(source_settings, "base_url", "") or "").rstrip("/")
    if api and api != HUBSPOT_API and ticket:
        return f"{api}/_sandbox/tickets/{ticket}"
    return None
