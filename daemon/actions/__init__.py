"""What an answer sets in motion: CRM follow-ups, alerts, outbound webhooks.

Each capability is a room of its own (a package or module here) whose work is a queue in the
store, so a CRM or channel outage delays it but never blocks the write-back of answers.
Arrows point down: actions use the store and the survey domain, never the web app.
"""
