"""What the response-app tests share (a module of its own: `conftest` names clash across test
folders): the app's frozen clock, the fixtures' callable types, reading a page's heading."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import httpx

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the app's clock (conftest's `now`)
AddSend = Callable[..., int]
ServeWith = Callable[..., AbstractContextManager[httpx.Client]]


def heading(page: httpx.Response) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page.text, flags=re.DOTALL)
    assert match is not None, page.text
    return match.group(1).strip()
