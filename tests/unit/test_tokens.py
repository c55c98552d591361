"""Key tokens: 16 hex characters from the CSPRNG, never handed out twice.

The engine draws the random bytes a page at a time (``_keys._RandomBytes``); these tests hold
it to what ``secrets.token_hex(8)`` gave: distinct tokens across pages, across threads, and in a
forked child, which must not repeat what its parent hands out.
"""

from __future__ import annotations

import os
import re
import threading

import pytest

from dwarf.engine._runtime._keys import new_token

TOKEN = re.compile(r"[0-9a-f]{16}")


def test_tokens_are_sixteen_hex_characters_and_distinct_across_many_draws() -> None:
    tokens = [new_token() for _ in range(5000)]  # about ten draws from the OS
    assert all(TOKEN.fullmatch(token) for token in tokens)
    assert len(set(tokens)) == len(tokens)


def test_threads_never_share_a_token() -> None:
    minted: list[list[str]] = [[] for _ in range(4)]

    def mint(into: list[str]) -> None:
        into.extend(new_token() for _ in range(2000))

    threads = [threading.Thread(target=mint, args=(into,)) for into in minted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [token for into in minted for token in into]
    assert len(set(every)) == len(every) == 8000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads alive (pytest's)
def test_a_forked_child_does_not_repeat_its_parents_tokens() -> None:
    new_token()  # the parent has drawn a page, and handed out part of it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, "".join(new_token() for _ in range(100)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    child = {text[i : i + 16] for i in range(0, len(text), 16)}
    parent = {new_token() for _ in range(100)}
    assert len(child) == 100
    assert not child & parent
