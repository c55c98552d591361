"""The inline SQLite connection commits a large transaction in a worker thread
(docs/internals/storage.md, S5), and the commit is the same commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dwarf._storage import _sqlite_inline
from dwarf._storage._sqlite_inline import open_inline_sqlite


async def test_a_large_transaction_commits_in_a_worker_thread_and_is_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_inline, "THREADED_COMMIT_ROWS", 3)
    threaded: list[str] = []
    real_to_thread = asyncio.to_thread

    async def spy(fn: Any, *args: Any) -> Any:
        threaded.extend(args)
        return await real_to_thread(fn, *args)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    path = tmp_path / "inline.db"
    conn = open_inline_sqlite(str(path), uri=False, memory=False)
    try:
        await conn.execute("CREATE TABLE t (x INTEGER)")
        await conn.begin()
        for x in range(3):
            await conn.execute("INSERT INTO t VALUES (?)", (x,))
        await conn.commit()  # 3 rows: inline
        assert threaded == []
        await conn.begin()
        for x in range(3, 7):
            await conn.execute("INSERT INTO t VALUES (?)", (x,))
        await conn.commit()  # 4 rows: in a thread
        assert threaded == ["COMMIT"]
    finally:
        await conn.close()
    other = sqlite3.connect(path)
    try:
        assert other.execute("SELECT COUNT(*) FROM t").fetchone() == (7,)
    finally:
        other.close()
