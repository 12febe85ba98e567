"""Alerts: `[[alerts]]` rules that tell people when an answer or a trend needs them.

This package owns:
- settings.py: the `[[alerts]]` config models (validated at load, errors name the key);
- segments.py: which segment (pipeline, team, owner, ...) an answer belongs to;
- rules.py: per-answer matching and the rolling figures (CSAT share, NPS drop, response
  rate, silence), pure functions of rows and a clock;
- channels.py / email.py: e-mail, Slack, Microsoft Teams and signed generic webhooks;
- job.py: evaluation (reads new responses through a cursor; breach/recovery state per
  rule and segment) and delivery (the `alert_deliveries` queue: leased claims,
  exponential backoff, bounded attempts, floods folded into one digest).

The durable parts (cursor, state, queue) live in daemon/store/alerts.py.
"""
