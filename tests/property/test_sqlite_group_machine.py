"""SQLite's commit group as a state machine (docs/internals/storage.md, S5a).

Each step of the machine is one turn of the event loop: a mix of transactions (some failing),
autocommit writes, reads and, now and then, a statement after which SQLite has ended the
transaction itself, all started together. A model says which rows must be committed after the
turn; a second connection to the file says which are. Every caller's outcome is checked too: a
transaction that succeeded returns only once its rows are committed, a failing one raises its
own error, and the members that had joined a lost group raise that group's error.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dwarf._storage._dsn import parse_dsn
from dwarf._storage._sqlite import SqliteStore
from dwarf.errors import StorageError
from tests.property.budgets import examples

T = TypeVar("T")

DISK_FULL = "database or disk is full"


class Boom(Exception):
    """A transaction's own failure."""


@dataclass(frozen=True)
class Op:
    """One unit of work of a turn: ``kind`` is tx, failing_tx, autocommit, read or lose."""

    kind: str


OPS = st.lists(
    st.sampled_from([Op("tx")] * 4 + [Op("failing_tx"), Op("autocommit"), Op("read"), Op("lose")]),
    min_size=1,
    max_size=10,
)


class GroupMachine(RuleBasedStateMachine):
    """Turns of concurrent units of work against one shared SQLite connection."""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.directory = tempfile.TemporaryDirectory()
        self.path = Path(self.directory.name) / "group.db"
        self.store = self.run(SqliteStore.open(1, parse_dsn(f"sqlite:///{self.path}")))
        self.run(
            self.store._autocommit_on_connection(
                lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            )
        )
        self.model: set[int] = set()
        self.next_value = 1

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this example's event loop."""
        return self.runner.run(coro)

    def teardown(self) -> None:
        """Close the store, the loop and the directory."""
        try:
            self.run(self.store.close())
        finally:
            self.runner.close()
            self.directory.cleanup()

    def committed(self) -> set[int]:
        """What another connection sees."""
        other = sqlite3.connect(self.path)
        try:
            return {x for (x,) in other.execute("SELECT x FROM t")}
        finally:
            other.close()

    def _unit(self, op: Op, value: int) -> Callable[[], Awaitable[object]]:
        store = self.store

        async def insert(conn: Any) -> int:
            await conn.execute("INSERT INTO t VALUES (?)", (value,))
            await conn.execute("INSERT INTO t VALUES (?)", (-value,))
            if op.kind == "failing_tx":
                raise Boom(value)
            return value

        async def write_alone(conn: Any) -> int:
            await conn.execute("INSERT INTO t VALUES (?)", (value,))
            return value

        async def read(conn: Any) -> set[int]:
            return {x for (x,) in await conn.execute_fetchall("SELECT x FROM t")}

        async def lose(conn: Any) -> None:
            await conn.execute("INSERT INTO t VALUES (?)", (value,))
            if conn.in_transaction:
                conn.rollback()  # what SQLite does itself on a full disk
            raise sqlite3.OperationalError(DISK_FULL)

        async def unit() -> object:
            if op.kind in ("tx", "failing_tx"):
                return await store._transact_on_connection(insert)
            if op.kind == "autocommit":
                return await store._autocommit_on_connection(write_alone)
            if op.kind == "lose":
                return await store._transact_on_connection(lose)
            rows = await store._autocommit_on_connection(read)
            # A read returns only rows that are committed by the time it returns.
            assert rows <= self.committed(), (rows, self.committed())
            return rows

        return unit

    @rule(ops=OPS)
    def turn(self, ops: list[Op]) -> None:
        values = list(range(self.next_value, self.next_value + len(ops)))
        self.next_value += len(ops)
        before = set(self.model)

        async def together() -> list[object]:
            return await asyncio.gather(
                *(self._unit(op, value)() for op, value in zip(ops, values, strict=True)),
                return_exceptions=True,
            )

        results = self.run(together())
        # The units run in the order they were started. The first transaction of the turn opens
        # the group; an autocommit or a read before it runs alone. A lost group takes down what
        # its members wrote before the loss, and the next transaction opens a new group.
        group: list[tuple[Op, int, object]] = []
        settled: list[tuple[Op, int, object]] = []
        for op, value, result in zip(ops, values, results, strict=True):
            if op.kind == "lose":
                assert isinstance(result, StorageError), result
                assert DISK_FULL in str(result)
                for member, _, outcome in group:
                    if member.kind == "failing_tx":
                        assert isinstance(outcome, Boom), outcome  # its own error, first
                    else:
                        assert isinstance(outcome, StorageError), (member, outcome)
                        assert DISK_FULL in str(outcome)
                group = []
            elif op.kind in ("tx", "failing_tx") or group:
                group.append((op, value, result))
            else:
                settled.append((op, value, result))
        for op, value, result in settled + group:
            if op.kind == "tx":
                assert result == value, result
                self.model |= {value, -value}
            elif op.kind == "failing_tx":
                assert isinstance(result, Boom), result
            elif op.kind == "autocommit":
                assert result == value, result
                self.model.add(value)
            else:
                assert isinstance(result, set), result
                assert before <= result, (before, result)

    @invariant()
    def only_what_succeeded_is_committed(self) -> None:
        assert self.committed() == self.model


GroupMachine.TestCase.settings = settings(
    max_examples=examples(30, thorough=150),
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGroupMachine = GroupMachine.TestCase
