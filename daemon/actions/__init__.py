"""What an answer sets in motion beyond the CRM write-back: each capability a room of its own
(webhooks/ here; follow-ups and alerts beside it), each a queue in the store.

Arrows point down: the service and CLI call into actions, actions call the store; the store
never imports from here (it writes the `events` outbox itself, in the change's transaction).
"""
