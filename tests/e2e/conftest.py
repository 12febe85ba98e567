"""Fixtures for the end-to-end tests (the parts live in e2e_loop.py)."""

from e2e_loop import loop

__all__ = ["loop"]
