"""Helpers for the alert tests: answers in a real store, a real HTTP receiver on 127.0.0.1.

(A module of its own, not a conftest: conftest names clash across test folders.)
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from closedloop.daemon.actions.alerts.settings import AlertSettings
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import Base

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SENDS = Base.metadata.tables["sends"]
CATEGORY = {
    "csat": lambda s: "satisfied" if s >= 4 else "unsatisfied",
    "nps": lambda s: "promoter" if s >= 9 else "passive" if s >= 7 else "detractor",
}
_keys = itertools.count(1)


def rule(**settings: Any) -> AlertSettings:
    """An alert rule validated as a [[alerts]] table (a Slack one unless told)."""
    values: dict[str, Any] = {"name": "r", "channel": "slack",
                              "url": "http://127.0.0.1:9/hook"}
    values.update(settings)
    return AlertSettings.model_validate(values)


def survey(store: Store, at: datetime, *, survey_type: str = "csat",
           program: str = "support-csat", team: str | None = "t1", pipeline: str = "p1",
           owner: str | None = "o1", email: str = "ada@example.com") -> int:
    """A survey sent at `at`; returns its send id."""
    key = f"k{next(_keys)}"
    store.add_sends([NewSend(idem_key=key, program=program, survey_type=survey_type,
                             source="hubspot", contact_id=f"c{key}", due_at=at, created_at=at,
                             ticket_id=f"tk{key}", email=email, team_id=team,
                             pipeline=pipeline, owner_id=owner)])
    with store.engine.connect() as conn:
        send_id = int(conn.scalar(select(SENDS.c.id).where(SENDS.c.idem_key == key)) or 0)
    store.mark_sent(send_id, at, f"<{key}@x>")
    return send_id


def answer(store: Store, at: datetime, score: int, *, comment: str | None = None,
           survey_type: str = "csat", **where: Any) -> int:
    """A survey sent an hour before `at` and answered at `at` with `score`; its send id."""
    send_id = survey(store, at - timedelta(hours=1), survey_type=survey_type, **where)
    store.record_response(send_id, score, CATEGORY[survey_type](score), at)
    if comment is not None:
        store.record_comment(send_id, comment, at)
    return send_id


@dataclass
class Receiver:
    """What the local receiver got: (path, headers, body bytes) per request."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    # status to answer for the n-th request (0-based); default 200
    status_for: Callable[[int], int] = lambda n: 200
    reply: bytes = b"ok"
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[Any]:
        return [json.loads(body) for _, _, body in self.requests]


@contextmanager
def receiver(status_for: Callable[[int], int] = lambda n: 200,
             reply: bytes = b"ok") -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 (a free port) recording every POST."""
    got = Receiver(status_for=status_for, reply=reply)
    calls = itertools.count()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = got.status_for(next(calls))
            with got.lock:
                if status < 300:
                    got.requests.append((self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(got.reply if status < 300 else got.reply or b"error")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
