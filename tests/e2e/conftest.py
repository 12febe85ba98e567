"""Fixtures for the end-to-end tests (the parts live in e2e_loop.py)."""

from collections.abc import Iterator

import pytest
from e2e_loop import crm_name, loop, loop_options
from slack_receiver import Slack

__all__ = ["crm_name", "loop", "loop_options"]


@pytest.fixture
def slack() -> Iterator[Slack]:
    """A Slack-like incoming webhook on 127.0.0.1 (slack_receiver.py), closed afterwards."""
    receiver = Slack()
    yield receiver
    receiver.close()
