"""CSP nonces drawn a block at a time (web/nonces.py): each is 16 random bytes in URL-safe
base64, none repeats within or across blocks, threads or a fork."""

from __future__ import annotations

import base64
import os
import re
import threading

from closedloop.daemon.web.nonces import NONCE_BYTES, Nonces

_URL_SAFE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def test_nonces_are_sixteen_bytes_each_and_never_repeat_across_blocks() -> None:
    """Ten blocks' worth: every nonce is 22 URL-safe characters decoding to 16 bytes, and
    all 1,000 differ (a refill draws new bytes)."""
    source = Nonces(block=100)
    drawn = [source.next() for _ in range(1_000)]
    assert [n for n in drawn if not _URL_SAFE.match(n)] == []
    assert {len(base64.urlsafe_b64decode(n + "==")) for n in drawn} == {NONCE_BYTES}
    assert len(set(drawn)) == len(drawn)


def test_threads_drawing_at_once_never_get_the_same_nonce() -> None:
    """Eight threads drawing 500 each from one small-block pool: 4,000 distinct nonces."""
    source = Nonces(block=7)
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(mine: list[str]) -> None:
        mine.extend(source.next() for _ in range(500))

    threads = [threading.Thread(target=draw, args=(mine,)) for mine in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [n for mine in drawn for n in mine]
    assert (len(every), len(set(every))) == (4_000, 4_000)


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    """The parent has drawn one nonce of a full block; the child's next nonce is none of the
    parent's remaining ones (it draws a fresh block)."""
    source = Nonces(block=50)
    source.next()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next nonce and leave at once
        os.write(write, source.next().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_rest = [source.next() for _ in range(49)]
    assert child not in parent_rest
    assert _URL_SAFE.match(child) is not None
