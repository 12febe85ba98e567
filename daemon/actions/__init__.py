"""What an answer sets in motion, each a queue in the store.

This room owns CRM follow-ups today (follow_ups.py: a HubSpot task or a Zendesk follow-up
ticket for an unhappy customer, one per answer, due within business hours) and the rule that
picks them (rule.py). Alerts and outbound webhooks live here too. Arrows point down: actions
use the store, the rules and the adapter protocol; never the web app, never a CRM's SDK.
"""
