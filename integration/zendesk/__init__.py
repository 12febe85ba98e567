"""Zendesk adapter (zenpy 2.0.57): closed tickets, users, write-back, ticket hooks, setup."""

from closedloop.integration.zendesk._notify_setup import WEBHOOK_NAME
from closedloop.integration.zendesk._pacing import zendesk_pacer
from closedloop.integration.zendesk.adapter import ZendeskAdapter
from closedloop.integration.zendesk.endpoints import ENDPOINTS

__all__ = ["ENDPOINTS", "WEBHOOK_NAME", "ZendeskAdapter", "zendesk_pacer"]
