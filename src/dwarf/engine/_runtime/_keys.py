"""Flow, step and thread keys: ``"{shard}-{id}-{token}"``.

The shard is 1-based, the id is the row's per-shard primary key and the token is 16 lowercase hex
characters from a CSPRNG. The token is the capability: every lookup matches id AND token, so a
wrong token is indistinguishable from a missing row and ids cannot be guessed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from dwarf.errors import BadRequestError, NotFoundError

__all__ = ["KEY_FORM", "Key", "format_key", "key_not_found", "new_token", "parse_key"]


@dataclass(frozen=True, slots=True)
class Key:
    """A parsed key: which shard, which row, and the row's token; ``kind`` ("flow", "step",
    "thread") and ``argument`` (the caller's parameter) name it in errors."""

    shard: int
    id: int
    token: str
    kind: str = "flow"
    argument: str = "flow_key"

    def __str__(self) -> str:
        return format_key(self.shard, self.id, self.token)


_TOKEN_BYTES = 8
_DRAW = 4096
"""Bytes asked of the operating system's CSPRNG at a time: 512 tokens."""


class _RandomBytes(threading.local):
    """The CSPRNG's bytes, drawn a page at a time and handed out once each.

    ``secrets.token_hex`` makes a system call per token, and the hot path mints about three per
    flow: 1.6 % of the engine's CPU time in the throughput benchmark. The bytes are the same
    ``os.urandom`` ones, never handed out twice: each thread draws its own, and a forked child
    drops what it inherited (its parent hands those out too).
    """

    def __init__(self) -> None:
        self.drop()

    def drop(self) -> None:
        """Forget the bytes drawn so far (a forked child's, which its parent hands out too)."""
        self.drawn = b""
        self.used = 0

    def take(self, size: int) -> bytes:
        if self.used + size > len(self.drawn):
            self.drawn, self.used = os.urandom(max(_DRAW, size)), 0
        start = self.used
        self.used = start + size
        return self.drawn[start : self.used]


_random = _RandomBytes()
os.register_at_fork(after_in_child=_random.drop)


def new_token() -> str:
    """A fresh 64-bit token from the CSPRNG, as 16 lowercase hex characters."""
    return _random.take(_TOKEN_BYTES).hex()


def format_key(shard: int, row_id: int, token: str) -> str:
    """Render a key from its parts."""
    return f"{shard}-{row_id}-{token}"


MAX_ID = 2**63 - 1
"""Ids are signed 64-bit in every dialect: a larger one names no row."""

_HEX = frozenset("0123456789abcdef")


def _is_hex(token: str) -> bool:
    # Tokens are exactly what new_token() makes; anything else cannot match a row (and must
    # not reach SQL, where a PAD SPACE collation would ignore trailing spaces).
    return _HEX.issuperset(token)


KEY_FORM = (
    '"<shard>-<id>-<token>" (shard and id positive integers, token 16 lowercase hex digits, '
    'e.g. "1-42-0123456789abcdef")'
)
"""The form every key has, as error messages state it."""

_WHERE_FROM = {
    "flow": "the key create, run, fork or continue_thread returned",
    "step": "a step_key from history or step",
    "thread": "the key of a flow of the thread (FlowSummary.thread_key)",
}


def parse_key(text: str, *, kind: str, num_shards: int, argument: str = "") -> Key:
    """Parse a flow/step/thread key; ``kind`` ("flow", "step", "thread") and ``argument`` (the
    caller's parameter, ``"<kind>_key"`` by default) name it in errors.

    Malformed text is a 400 echoing the key and stating the expected form; a shard beyond the
    open shards is a 404 (the row cannot exist).
    """
    argument = argument or f"{kind}_key"
    if not isinstance(text, str):
        raise BadRequestError(
            f"invalid {kind} key for {argument}: expected a string of the form {KEY_FORM}, "
            f"got {type(text).__name__}"
        )

    def invalid() -> BadRequestError:
        return BadRequestError(
            f"invalid {kind} key {text[:64]!r} for {argument}: expected {KEY_FORM}, "
            f"{_WHERE_FROM.get(kind, 'as the engine returned it')}"
        )

    parts = text.split("-", 2)
    if len(parts) != 3 or not parts[2]:
        raise invalid()
    shard_text, id_text, token = parts
    if not (shard_text.isdigit() and id_text.isdigit()) or not shard_text.isascii():
        raise invalid()
    shard, row_id = int(shard_text), int(id_text)
    if shard < 1 or row_id < 1 or len(token) != 16 or not _is_hex(token):
        raise invalid()
    key = Key(shard, row_id, token, kind, argument)
    if shard > num_shards or row_id > MAX_ID:
        raise key_not_found(key)
    return key


def key_not_found(key: Key) -> NotFoundError:
    """The 404 for a well-formed key that names no row: it echoes the key and the argument."""
    return NotFoundError(f"{key.kind} {str(key)!r} ({key.argument}) not found")
