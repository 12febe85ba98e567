"""Fixtures for the end-to-end tests (the parts live in e2e_loop.py)."""

from e2e_loop import crm_name, loop, loop_options

__all__ = ["crm_name", "loop", "loop_options"]
