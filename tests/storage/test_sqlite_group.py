"""SQLite's commit group (docs/internals/storage.md, S5): the units of work of one loop turn share
one COMMIT, yet each succeeds or fails on its own, and none returns before its writes are durable.

Each test drives a real SQLite file through ``SqliteStore`` and checks what a second, independent
connection to the file sees."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwarf._storage._dsn import parse_dsn
from dwarf._storage._sqlite import SqliteStore
from dwarf.errors import StorageError


class Boom(Exception):
    """A closure's own failure."""


def committed(path: Path) -> list[int]:
    """The rows another connection sees: only what was committed."""
    other = sqlite3.connect(path)
    try:
        return sorted(x for (x,) in other.execute("SELECT x FROM t"))
    finally:
        other.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(1, parse_dsn(f"sqlite:///{tmp_path / 'group.db'}"))
    await opened._autocommit_on_connection(
        lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    )
    try:
        yield opened
    finally:
        await opened.close()


def path_of(store: SqliteStore) -> Path:
    return Path(store.dsn.path)


async def insert(store: SqliteStore, x: int, *, fail: bool = False) -> int:
    """One transaction: insert ``x`` (and ``-x``), then fail if asked; returns ``x``."""

    async def fn(conn: Any) -> int:
        await conn.execute("INSERT INTO t VALUES (?)", (x,))
        await conn.execute("INSERT INTO t VALUES (?)", (-x,))
        if fail:
            raise Boom(x)
        return x

    return await store._transact_on_connection(fn)


async def ends_the_transaction(conn: Any) -> None:
    """Write, then do what SQLite does by itself on a full disk or an I/O error: end it all."""
    await conn.execute("INSERT INTO t VALUES (50)")
    conn.rollback()
    raise sqlite3.OperationalError("database or disk is full")


async def test_a_transaction_returns_once_another_connection_sees_its_rows(
    store: SqliteStore,
) -> None:
    seen: list[list[int]] = []

    async def one(x: int) -> None:
        await insert(store, x)
        seen.append(committed(path_of(store)))

    await asyncio.gather(*(one(x) for x in (1, 2, 3)))
    # All three joined one turn's group: each saw every member's rows, committed.
    assert seen == [[-3, -2, -1, 1, 2, 3]] * 3


async def test_a_failing_member_rolls_back_its_own_rows_and_no_one_elses(
    store: SqliteStore,
) -> None:
    results = await asyncio.gather(
        insert(store, 1), insert(store, 2, fail=True), insert(store, 3), return_exceptions=True
    )
    assert results[0] == 1
    assert results[2] == 3
    assert isinstance(results[1], Boom)
    assert committed(path_of(store)) == [-3, -1, 1, 3]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fails=st.lists(st.booleans(), min_size=1, max_size=12))
async def test_exactly_the_members_that_succeeded_are_committed(
    tmp_path: Path, fails: list[bool]
) -> None:
    dsn = parse_dsn(f"sqlite:///{tmp_path / 'prop.db'}")
    store = await SqliteStore.open(1, dsn)
    try:
        await store._autocommit_on_connection(lambda c: c.execute("DROP TABLE IF EXISTS t"))
        await store._autocommit_on_connection(
            lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        )
        results = await asyncio.gather(
            *(insert(store, i + 1, fail=fail) for i, fail in enumerate(fails)),
            return_exceptions=True,
        )
    finally:
        await store.close()
    expected = [i + 1 for i, fail in enumerate(fails) if not fail]
    assert [r for r in results if not isinstance(r, Boom)] == expected
    assert [r.args[0] for r in results if isinstance(r, Boom)] == [
        i + 1 for i, fail in enumerate(fails) if fail
    ]
    assert committed(Path(dsn.path)) == sorted([-x for x in expected] + expected)


async def test_a_read_in_an_open_group_returns_only_once_the_group_committed(
    store: SqliteStore,
) -> None:
    async def read(conn: Any) -> list[int]:
        rows = await conn.execute_fetchall("SELECT x FROM t WHERE x > 0")
        return [x for (x,) in rows]

    async def reader() -> tuple[list[int], list[int]]:
        rows = await store._autocommit_on_connection(read)  # the path of Store.read
        return rows, committed(path_of(store))

    _, (rows, durable) = await asyncio.gather(insert(store, 7), reader())
    # The read ran inside the writer's group and saw its row: by the time it returned, the row
    # was committed, so nothing could act on a write that might still roll back.
    assert rows == [7]
    assert durable == [-7, 7]


async def test_a_failed_commit_fails_every_member_and_writes_nothing(
    store: SqliteStore,
) -> None:
    await store._autocommit_on_connection(
        lambda c: c.execute("CREATE TABLE child (p INTEGER REFERENCES t (x))")
    )

    async def orphan(conn: Any) -> None:
        # Deferred: the foreign key is checked at COMMIT, which then fails.
        await conn.execute("PRAGMA defer_foreign_keys = ON")
        await conn.execute("INSERT INTO child VALUES (404)")

    results = await asyncio.gather(
        insert(store, 1),
        store._transact_on_connection(orphan),
        insert(store, 2),
        return_exceptions=True,
    )
    assert all(isinstance(r, StorageError) for r in results), results
    assert "FOREIGN KEY" in str(results[0])
    assert committed(path_of(store)) == []
    # The connection is usable again: the next turn opens a new group.
    assert await insert(store, 3) == 3
    assert committed(path_of(store)) == [-3, 3]


async def test_an_error_that_ends_the_transaction_fails_the_whole_group(
    store: SqliteStore,
) -> None:
    results = await asyncio.gather(
        insert(store, 1),
        store._transact_on_connection(ends_the_transaction),
        insert(store, 2),
        return_exceptions=True,
    )
    # The member before the error lost its writes with the group's transaction; the one after
    # it opened a new group.
    assert all(isinstance(r, StorageError) for r in results[:2]), results
    assert all("disk is full" in str(r) for r in results[:2])
    assert results[2] == 2
    assert committed(path_of(store)) == [-2, 2]


async def test_a_member_cancelled_while_it_waits_for_the_commit_is_still_committed(
    store: SqliteStore,
) -> None:
    async def cancels_itself(conn: Any) -> None:
        await conn.execute("INSERT INTO t VALUES (9)")
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # lands while the member waits for the group's COMMIT

    with pytest.raises(asyncio.CancelledError):
        await store._transact_on_connection(cancels_itself)
    assert committed(path_of(store)) == [9]


async def test_a_commit_cancelled_before_it_ran_rolls_back_and_its_members_run_again(
    store: SqliteStore,
) -> None:
    attempts: list[int] = []

    async def cancels_the_commit(conn: Any) -> None:
        attempts.append(1)
        await conn.execute("INSERT INTO t VALUES (5)")
        if len(attempts) == 1:
            group = store._handle._group
            assert group is not None
            assert group.task is not None
            group.task.cancel()

    async with asyncio.timeout(10):  # members left waiting for a COMMIT that never comes
        await asyncio.gather(store._transact_on_connection(cancels_the_commit), insert(store, 6))
    assert len(attempts) == 2
    assert committed(path_of(store)) == [-6, 5, 6]


async def test_a_group_lost_by_its_only_member_leaves_no_unretrieved_error_behind(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(StorageError, match="disk is full"):
        await store._transact_on_connection(ends_the_transaction)
    for _ in range(3):  # the group's COMMIT task runs and ends
        await asyncio.sleep(0)
    gc.collect()
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert await insert(store, 3) == 3
