"""A Slack-like incoming webhook on 127.0.0.1 for the end-to-end tests: /ok records each JSON
body and answers 200 "ok", /bad answers 400 "invalid_blocks" as Slack does."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Slack:
    """A Slack-like incoming webhook on 127.0.0.1: /ok records, /bad answers 400."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        got = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                ok = self.path == "/ok"
                if ok:
                    got.append(json.loads(body))
                self.send_response(200 if ok else 400)
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"invalid_blocks")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
