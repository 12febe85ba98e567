"""A TCP proxy in front of an SMTP server that cuts some connections mid-message."""

from __future__ import annotations

import random
import select
import socket
import threading
from collections import Counter


class CuttingProxy:
    """A TCP proxy in front of the SMTP sink that cuts some messages' connections.

    Per message (decided when the relay answers 354 to DATA): with probability `rate`, a cut;
    half of the cuts happen mid-DATA (the relay accepted nothing), half right after the
    end-of-data dot, the relay's 250 never reaching the client (the mail was accepted).
    """

    def __init__(self, target_port: int, rate: float, seed: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.cuts: Counter[str] = Counter()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="smtp-cutter", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _decide(self) -> str:
        with self._lock:
            roll = self._rng.random()
        if roll >= self._rate:
            return ""
        return "mid" if roll < self._rate / 2 else "after"

    def _pump(self, client: socket.socket) -> None:
        server = socket.create_connection(self._target)
        asked_data = in_data = awaiting = False
        cut, tail = "", b""
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 60)
                if not ready:
                    return
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    if in_data:
                        if cut == "mid":
                            server.sendall(data[: len(data) // 2])
                            self._count("mid")
                            return
                        tail = (tail + data)[-5:]
                        if tail == b"\r\n.\r\n":
                            in_data, awaiting = False, cut == "after"
                    elif data.upper().startswith(b"DATA"):
                        asked_data = True
                    server.sendall(data)
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    if awaiting:
                        self._count("after")
                        return
                    if asked_data and data.startswith(b"354"):
                        asked_data, in_data, cut, tail = False, True, self._decide(), b""
                    client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def _count(self, kind: str) -> None:
        with self._lock:
            self.cuts[kind] += 1
