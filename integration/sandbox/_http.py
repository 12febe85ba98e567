"""What both sandbox servers share: the request/response types, the JSON HTTP shell, and a
server's lifecycle (a ThreadingHTTPServer on a background thread) and call counters.

Each sandbox keeps what makes it look like its vendor: routes, auth, limits, error bodies.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self

import structlog

from ._faults import Fault, FaultConfigError, FaultRates, RandomFaults

log = structlog.get_logger(__name__)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    base_url: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """A refusal a handler raises; the server answers with its status, body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class SandboxServer(ABC):
    """Start/stop (also as a context manager), the base URL, and the per-route counters.

    `name` ("hubspot", "zendesk") names the thread, the log events and the Server header.
    """

    name: ClassVar[str]
    content_type: ClassVar[str]

    def __init__(self, host: str, port: int) -> None:
        self.calls: Counter[str] = Counter()
        """Every API call per "METHOD /path-template", including refused ones."""
        self.throttled: Counter[str] = Counter()
        """The 429 answers per "METHOD /path-template" (real and injected)."""
        self._counter_lock = threading.Lock()
        self.faults = RandomFaults()
        """Random faults per call (see _faults.py); off until `set_faults`."""
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _serve_request(self, method: str, target: str, headers: dict[str, str],
                       raw: bytes) -> Response:
        """One HTTP request (lower-cased header names) to one response; never raises."""

    @abstractmethod
    def _bug_response(self) -> Response:
        """The 500 for an exception in a handler, in the vendor's error shape."""

    @abstractmethod
    def _fault_response(self, status: int, path: str, retry_after: float) -> Response:
        """A 5xx or 429 answer in the vendor's shape, for an injected fault."""

    def _on_bound(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Called once the port is bound, before the first request can be served."""

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        handler = type("_BoundHandler", (_Handler,), {
            "sandbox": self, "server_version": f"{self.name}-sandbox"})
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        self._on_bound()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"{self.name}-sandbox", daemon=True)
        self._thread.start()
        log.info(f"sandbox.{self.name}.started", url=self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """"http://127.0.0.1:<port>" once started."""
        return f"http://{self._netloc()}"

    def _netloc(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return f"{self._host}:{self._server.server_port}"

    # ------------------------------------------------------------ test hooks
    def total_calls(self) -> int:
        with self._counter_lock:
            return sum(self.calls.values())

    def reset_calls(self) -> None:
        with self._counter_lock:
            self.calls.clear()
            self.throttled.clear()

    def _counters(self) -> dict[str, Any]:
        """{"total", "calls", "throttled"}: what GET /_sandbox/calls answers."""
        with self._counter_lock:
            return {"total": sum(self.calls.values()), "calls": dict(self.calls),
                    "throttled": dict(self.throttled)}

    def _calls_endpoint(self, method: str) -> Response:
        """/_sandbox/calls: DELETE empties the counters; both answer what they hold."""
        if method == "DELETE":
            self.reset_calls()
        return Response(200, self._counters())

    def set_faults(self, rates: FaultRates | None) -> None:
        """Inject random faults from now on (None: stop); the counts start from zero."""
        self.faults.configure(rates)

    def _faults_endpoint(self, method: str, raw: bytes) -> Response:
        """/_sandbox/faults: POST sets the rates, DELETE stops, GET reads; all answer them."""
        if method == "POST":
            try:
                body = json.loads(raw or b"{}")
                self.set_faults(FaultRates.from_json(body))
            except (ValueError, FaultConfigError) as exc:
                return Response(400, {"error": "invalid fault settings", "detail": str(exc)})
        elif method == "DELETE":
            self.set_faults(None)
        elif method != "GET":
            return Response(405, {"error": f"{method} is not supported here"})
        return Response(200, self.faults.snapshot())

    def _with_faults(self, path: str, answer: Callable[[], Response]) -> Response:
        """`answer()` as a bad day would serve it: refused, late, or applied and lost."""
        fault: Fault | None = self.faults.draw(path)
        rates = self.faults.rates
        if fault is None or rates is None:
            return answer()
        if fault.kind in ("5xx", "429"):
            return self._fault_response(fault.status, path, rates.retry_after)
        if fault.kind == "slow":
            time.sleep(rates.slow_seconds)
            return answer()
        response = answer()  # "lost": applied, then the answer never arrives
        if response.status >= 300:
            return response
        if fault.status == 0:
            return Response(0, None)
        return self._fault_response(fault.status, path, rates.retry_after)

    # -------------------------------------------------------------- dispatch
    def _counted(self, key: str | None, method: str, path: str,
                 answer: Callable[[], Response]) -> Response:
        """Run `answer`, turning refusals and bugs into responses; count the call and its
        429 under `key` (None: an uncounted admin call)."""
        if key is not None:
            with self._counter_lock:
                self.calls[key] += 1
        try:
            response = answer()
        except HttpError as exc:
            response = Response(exc.status, exc.body, exc.headers)
        except Exception:  # a sandbox bug, not a client error: say so loudly
            log.exception(f"sandbox.{self.name}.handler_error", method=method, path=path)
            response = self._bug_response()
        if response.status == 429 and key is not None:
            with self._counter_lock:
                self.throttled[key] += 1
        return response


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP shell: body in, `SandboxServer._serve_request`, JSON out."""

    sandbox: ClassVar[SandboxServer]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.sandbox._serve_request(self.command, self.path, headers, raw)
        if response.status == 0:  # an injected lost answer: close without a word
            self.close_connection = True
            return
        payload = b"" if response.status == 204 else json.dumps(
            response.body, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(response.status)
        if response.status != 204:  # a 204 carries no body, not even "null"
            self.send_header("Content-Type", self.sandbox.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr line (the counters say what happened)."""
