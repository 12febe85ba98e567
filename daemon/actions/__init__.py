"""What an answer sets in motion beyond the CRM write-back: CRM follow-ups, alerts, outbound
webhooks; each capability a room of its own (a package or module here), each a queue in the
store, so a CRM or channel outage delays it but never blocks the write-back of answers.

Arrows point down: the service and CLI call into actions, actions call the store and the
survey domain; the store never imports from here (it writes the `events` outbox itself, in
the change's transaction), nor does anything here import the web app.
"""
