"""The dashboard at /admin: sign-in (argon2, server-side sessions, CSRF, lock-out), scopes
by the segment hierarchy of `[reporting].scope`, and the report pages drawn as server-side SVG.

Kept importable without FastAPI for the config and the CLI: `settings` and `passwords` are
plain modules; the web parts live in `routes`.
"""
