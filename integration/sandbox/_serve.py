"""The foreground loop behind `closedloop sandbox hubspot|zendesk`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from ._http import SandboxServer


def serve_until_stopped(sandbox: SandboxServer, banner: Callable[[], Iterable[str]],
                        stop: threading.Event | None) -> None:
    """Start `sandbox`, print `banner()` (it may read the bound URL), and serve until Ctrl-C
    or until `stop` is set (how a test or the demo ends it without a signal)."""
    sandbox.start()
    for line in banner():
        print(line)
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
