"""Surveys queued by an event rather than the poll: inbound webhooks, manual and bulk sends."""
