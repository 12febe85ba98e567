"""A small real SMTP relay on 127.0.0.1 that breaks chosen connections at a chosen step.

aiosmtpd hands a handler the message only once the final dot is in, so it cannot cut a
connection halfway through the payload; this relay speaks the few commands smtplib sends
(EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) over asyncio and can. Each new connection takes
the next cut from the queue given at start; once the queue is empty it behaves:

- "connect": closes as soon as the client connects (no greeting);
- "mail": answers 250 to MAIL FROM, then closes;
- "payload": answers 354 to DATA, reads 64 KiB (`payload_cut_after`) of the payload, then
  resets the connection;
- "end_of_data": reads the whole message and its final dot, KEEPS it (a relay that accepted
  the mail and died before saying so), and resets the connection without the 250.

Everything kept is in `delivered` (dot-unstuffed bytes), in order; `cut_done` is set once a
cut connection is closed and `hung_up` once any connection ended, so a test can wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Sequence
from types import TracebackType

CUTS = ("connect", "mail", "payload", "end_of_data")
PAYLOAD_CUT_AFTER = 64 * 1024


class CuttingRelay:
    def __init__(self, cuts: Sequence[str | None] = (),
                 payload_cut_after: int = PAYLOAD_CUT_AFTER) -> None:
        """`cuts`: one entry per new connection, None for a connection left alone."""
        unknown = set(cuts) - {*CUTS, None}
        if unknown:
            raise ValueError(f"unknown cut points: {sorted(unknown)}")
        self._cuts = deque(cuts)
        self._payload_cut_after = payload_cut_after
        self.delivered: list[bytes] = []
        self.connections = 0
        self.cut_done = threading.Event()  # set once a cut connection is closed
        self.hung_up = threading.Event()  # set once any connection ended (client or relay)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> CuttingRelay:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = started.result(timeout=10)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cut = self._cuts.popleft() if self._cuts else None
        self.connections += 1
        try:
            if cut == "connect":
                return
            writer.write(b"220 cutting-relay ready\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250 cutting-relay\r\n")
                elif verb == b"MAIL":
                    writer.write(b"250 2.1.0 sender ok\r\n")
                    if cut == "mail":
                        await writer.drain()
                        return
                elif verb in (b"RCPT", b"RSET", b"NOOP"):
                    writer.write(b"250 2.0.0 ok\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 end with <CRLF>.<CRLF>\r\n")
                    await writer.drain()
                    message = await self._payload(reader, cut, self._payload_cut_after)
                    if message is None:
                        writer.transport.abort()  # a reset, as a relay that died would
                        return
                    self.delivered.append(message)
                    if cut == "end_of_data":
                        writer.transport.abort()
                        return
                    writer.write(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"500 5.5.2 unknown command\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            # the socket is really closed (abort() closes it on the loop's next turn)
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            self.hung_up.set()
            if cut is not None:
                self.cut_done.set()

    @staticmethod
    async def _payload(reader: asyncio.StreamReader, cut: str | None,
                       cut_after: int) -> bytes | None:
        """The message up to the final dot (unstuffed); None when cut mid-payload."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = await reader.readline()
            if not line:
                return None
            if line == b".\r\n":
                return b"".join(lines)
            size += len(line)
            if cut == "payload" and size >= cut_after:
                return None
            lines.append(line[1:] if line.startswith(b"..") else line)
