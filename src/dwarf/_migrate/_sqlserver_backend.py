"""The migrator's SQL Server mechanics (untested here: no SQL Server is available).

A session-owned application lock (``sp_getapplock``, waiting up to ``lock_timeout``) per
database; each migration runs in its own transaction with its record (DDL is transactional).
The connection autocommits between explicit transactions. The other dialects, and the helpers
shared with them, are in ``_backends``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from dwarf._migrate._backends import (
    LOCK_NAME,
    SELECT_ROWS,
    applied_rows,
    failed,
    gist,
    lost,
)
from dwarf._migrate._plan import AppliedRow
from dwarf._migrate._sql import TABLE, bookkeeping_ddl, now_utc
from dwarf._migrate._types import MigrationLike
from dwarf._storage._dsn import Dialect, Dsn
from dwarf.errors import DwarfError, UnavailableError

__all__ = ["SqlServerBackend"]


class SqlServerBackend:
    """The migrator's SQL Server session (aioodbc over FreeTDS); see the module docstring."""

    dialect: Dialect = "sqlserver"

    def __init__(self, dsn: Dsn, conn: Any) -> None:
        self.dsn = dsn
        self._conn = conn

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import pyodbc

        try:
            cur = await self._conn.cursor()
            try:
                await cur.execute(sql, *params)
                found = await cur.fetchall() if cur.description else []
            finally:
                await cur.close()
        except pyodbc.Error as exc:
            if str(exc.args[0]).startswith("08"):
                raise lost(self.dsn, exc) from None
            raise DwarfError(f"SQL Server {self.dsn.masked()}: {gist(exc, self.dsn)}") from None
        return [tuple(row) for row in found]

    async def table_exists(self) -> bool:
        rows = await self._run(
            "SELECT CASE WHEN OBJECT_ID(?, 'U') IS NULL THEN 0 ELSE 1 END", (f"dbo.{TABLE}",)
        )
        return bool(rows[0][0])

    async def read_rows(self) -> list[AppliedRow]:
        if not await self.table_exists():
            return []
        return applied_rows(await self._run(SELECT_ROWS))

    @asynccontextmanager
    async def locked(self, wait: float) -> AsyncIterator[None]:
        # NOCOUNT keeps the procedure's row counts out of the way of the one SELECT's result.
        got = await self._run(
            "SET NOCOUNT ON; DECLARE @got INT; EXEC @got = sp_getapplock @Resource = ?, "
            "@LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = ?; "
            "SET NOCOUNT OFF; SELECT @got",
            (LOCK_NAME, max(0, int(wait * 1000))),
        )
        if got[0][0] < 0:
            raise UnavailableError(
                f"another migrator held the migration lock on {self.dsn.masked()} "
                f"for more than {wait:g} s"
            )
        try:
            yield
        finally:
            with contextlib.suppress(DwarfError):
                await self._run(
                    "EXEC sp_releaseapplock @Resource = ?, @LockOwner = 'Session'", (LOCK_NAME,)
                )

    async def ensure_table(self) -> None:
        await self._run(bookkeeping_ddl(self.dialect))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self._run("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            # XACT_ABORT may have rolled it back already.
            with contextlib.suppress(DwarfError):
                await self._run("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
            raise
        await self._run("COMMIT TRANSACTION")

    async def apply(self, migration: MigrationLike, version_before: int) -> None:
        import pyodbc

        try:
            for statement in migration.statements:
                if statement.strip():
                    cur = await self._conn.cursor()
                    try:
                        await cur.execute(statement)
                    finally:
                        await cur.close()
        except pyodbc.Error as exc:
            if str(exc.args[0]).startswith("08"):
                raise lost(self.dsn, exc) from None
            raise failed(self.dsn, migration, exc, version_before, partial=False) from None
        await self._run(f"DELETE FROM {TABLE} WHERE version = ?", (migration.version,))
        await self._run(
            f"INSERT INTO {TABLE} (version, name, checksum, applied_at) "
            f"VALUES (?, ?, ?, {now_utc(self.dialect)})",
            (migration.version, migration.name, migration.checksum),
        )

    async def close(self) -> None:
        await self._conn.close()
