"""Alembic migration scripts for the state store (loaded by path; see engine.upgrade_to_head)."""
