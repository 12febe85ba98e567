"""An ASGI app under uvicorn in a thread, on a free port of 127.0.0.1: the tests that need real
HTTP to the daemon's web app (or a part of it) all start it this one way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test thread is not the main thread
        pass


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app's base URL while it runs (stopped on exit); RuntimeError if it won't start."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                    lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def served_client(app: Any, **options: Any) -> Iterator[httpx.Client]:
    """An httpx client (10-s timeout, `options` added) for the app while it runs."""
    with served(app) as base, httpx.Client(base_url=base, timeout=10, **options) as http:
        yield http
