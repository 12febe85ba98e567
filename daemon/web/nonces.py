"""CSP nonces drawn from the OS's random source a block at a time.

Every page carries a fresh nonce (web/pages.py); `secrets.token_urlsafe` asks the kernel
for 16 bytes on each call, and that system call was ~6 % of a score page's CPU. Here one
call fetches the bytes of `BLOCK` nonces: each nonce is still 16 bytes of the same
cryptographic source, used once. The pool is emptied in a forked child, so two processes
never hand out the same nonce.
"""

from __future__ import annotations

import base64
import os
import threading

BLOCK = 256
NONCE_BYTES = 16


class Nonces:
    """URL-safe nonces of NONCE_BYTES random bytes each (22 characters), thread-safe."""

    def __init__(self, block: int = BLOCK) -> None:
        self._block = block
        self._left: list[str] = []
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def next(self) -> str:
        with self._lock:
            if not self._left:
                raw = os.urandom(NONCE_BYTES * self._block)
                self._left = [
                    base64.urlsafe_b64encode(raw[at:at + NONCE_BYTES]).rstrip(b"=").decode()
                    for at in range(0, len(raw), NONCE_BYTES)]
            return self._left.pop()

    def _forget(self) -> None:
        self._left = []


nonces = Nonces()
