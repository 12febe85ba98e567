"""The web widget for known visitors: a small script a site embeds, and the JSON API it calls.

Layout: settings.py (`[widget.sites.NAME]`), identity.py (the HMAC a site computes for its
signed-in visitor), cors.py (origins per site), due.py (whether a survey is due: the one rule
engine and ledger, and the in-page row in the one outbox), router.py (the routes), static/
(widget.js and widget.css, served as they are, no build step).
"""
