"""HubSpot adapter (hubspot-api-client 12): closed tickets, contacts, write-back, ticket notes,
reopened checks, list members, setup."""

from closedloop.integration.hubspot._pacing import hubspot_pacer
from closedloop.integration.hubspot.adapter import HubSpotAdapter
from closedloop.integration.hubspot.endpoints import ENDPOINTS

__all__ = ["ENDPOINTS", "HubSpotAdapter", "hubspot_pacer"]
