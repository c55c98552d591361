"""Per-dialect mechanics of the migrator: lock, transaction, bookkeeping reads and writes.

How each dialect keeps concurrent migrators (replicas starting together) from colliding:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``, polled until ``lock_timeout``),
  scoped to the database; each migration runs in its own transaction with its record (DDL is
  transactional), so a failure rolls back completely.
- MySQL/MariaDB: a named lock (``GET_LOCK``) per database; DDL commits implicitly statement by
  statement, so the record is written first with a NULL ``applied_at`` and stamped at the end:
  a failure leaves a visible "failed part-way" marker rather than a silent half-schema.
- SQL Server (untested here: no server): a session-owned application lock (``sp_getapplock``,
  waiting up to ``lock_timeout``) per database; each migration runs in its own transaction with
  its record (DDL is transactional): ``_sqlserver_backend``.
- SQLite: ``BEGIN IMMEDIATE`` takes the single write lock for each migration's transaction (the
  connection's busy timeout is raised to ``lock_timeout`` so a second migrator waits); the
  applied set is re-read inside each transaction, so the second migrator sees the first's work.

The bookkeeping table is created only after the lock is held: concurrent
``CREATE TABLE IF NOT EXISTS`` can itself fail on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from dwarf._migrate._plan import AppliedRow
from dwarf._migrate._sql import TABLE, bookkeeping_ddl, now_utc
from dwarf._migrate._types import MigrationFailedError, MigrationLike
from dwarf._storage._connect import connect_mysql, connect_postgresql, connect_sqlite
from dwarf._storage._drivers import require_driver
from dwarf._storage._dsn import Dialect, Dsn, scrub
from dwarf.errors import DwarfError, UnavailableError

if TYPE_CHECKING:
    import psycopg

__all__ = ["Backend", "open_backend"]

LOCK_NAME: Final = "dwarf_migrations"
"""The name of the migration lock (MySQL: with the database's; SQL Server: as is)."""
# A fixed 64-bit advisory lock key; advisory locks are per database, so one key suffices.
_PG_LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True
)
_LOCK_POLL_SECONDS: Final = 0.1
# MySQL client errors meaning the server went away mid-session.
_MYSQL_LOST: Final = frozenset({2006, 2013, 2055})
SELECT_ROWS: Final = f"SELECT version, name, checksum, applied_at FROM {TABLE} ORDER BY version"
"""The bookkeeping table's rows, in version order."""


class Backend(Protocol):
    """One open connection to one database, speaking one dialect."""

    dialect: Dialect
    dsn: Dsn

    async def table_exists(self) -> bool:
        """Whether ``dwarf_migrations`` exists (read-only)."""

    async def read_rows(self) -> list[AppliedRow]:
        """The recorded migrations, by version (read-only; [] without the table)."""

    def locked(self, wait: float) -> AbstractAsyncContextManager[None]:
        """An async context manager holding the migration lock, waiting up to ``wait`` s."""

    async def ensure_table(self) -> None:
        """Create ``dwarf_migrations`` if missing (call with the lock held)."""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """An async context manager for one migration's transaction (no-op on MySQL)."""

    async def apply(self, migration: MigrationLike, version_before: int) -> None:
        """Run ``migration`` and record it; raise ``MigrationFailedError`` on failure."""

    async def close(self) -> None:
        """Close the connection."""


async def open_backend(dsn: Dsn) -> Backend:
    """Connect to ``dsn`` and return its backend."""
    require_driver(dsn.dialect)
    # Autocommit: reads then see the latest commits, and each migration's transaction is
    # explicit (PostgreSQL) or impossible anyway (MySQL DDL).
    if dsn.dialect == "postgresql":
        pg = await connect_postgresql(dsn)
        backend: Backend = _PostgresBackend(dsn, pg)
        setup = pg.set_autocommit(True)
    elif dsn.dialect == "mysql":
        my = await connect_mysql(dsn)
        backend = _MySQLBackend(dsn, my)
        setup = _mysql_setup(my)
    else:
        return await _open_other(dsn)
    try:
        await setup
    except Exception as exc:
        await backend.close()
        raise lost(dsn, exc) from None
    return backend


async def _mysql_setup(conn: Any) -> None:
    """Autocommit, and no server notes: ``DROP PROCEDURE IF EXISTS`` on a fresh database, and
    ``CREATE TABLE IF NOT EXISTS`` on an existing table, answer with a note, which asyncmy would
    log as a warning at every engine startup."""
    await conn.autocommit(True)
    async with conn.cursor() as cur:
        await cur.execute("SET SESSION sql_notes = 0")


async def _open_other(dsn: Dsn) -> Backend:
    if dsn.dialect == "sqlite":
        return _SQLiteBackend(dsn, await connect_sqlite(dsn))
    from dwarf._migrate._sqlserver_backend import SqlServerBackend
    from dwarf._storage._sqlserver import connect_sqlserver

    return SqlServerBackend(dsn, await connect_sqlserver(dsn))


def failed(
    dsn: Dsn, migration: MigrationLike, exc: BaseException, version_before: int, *, partial: bool
) -> MigrationFailedError:
    """The error for a migration that failed; ``partial``: it may be half applied (MySQL)."""
    reason = gist(exc, dsn)
    where = f"migration {migration.version} ({migration.name}) failed: {reason}"
    if partial:
        return MigrationFailedError(
            f"{where}; MySQL cannot roll back DDL, so it may be partially applied: inspect the "
            f"schema, fix the cause, then run dwarf migrate again (fully applied: version "
            f"{version_before})"
        )
    return MigrationFailedError(
        f"{where}; it was rolled back and the database stays at version {version_before}"
    )


def gist(exc: BaseException, dsn: Dsn) -> str:
    """The first line of a driver error's message, without the DSN's secrets."""
    args = exc.args
    # (code, message): asyncmy's MySQL error number, pyodbc's SQLSTATE.
    text = str(args[1]) if len(args) == 2 and isinstance(args[0], int | str) else str(exc)
    lines = text.strip().splitlines()
    return scrub(lines[0] if lines else type(exc).__name__, dsn.secrets())


def lost(dsn: Dsn, exc: BaseException) -> DwarfError:
    """The error for a connection lost mid-migration."""
    return UnavailableError(f"lost the connection to {dsn.masked()}: {gist(exc, dsn)}")


def _mysql_code(exc: BaseException) -> int:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise DwarfError(f"{TABLE}.applied_at holds {value!r}, which is not a time")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def applied_rows(raw: Sequence[Sequence[Any]]) -> list[AppliedRow]:
    """The bookkeeping table's rows (``SELECT_ROWS``) as ``AppliedRow``s."""
    return [AppliedRow(int(r[0]), str(r[1]), str(r[2]).strip(), _utc(r[3])) for r in raw]


class _PostgresBackend:
    dialect: Dialect = "postgresql"

    def __init__(self, dsn: Dsn, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        self.dsn = dsn
        self._conn = conn

    async def _run(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            cur = await self._conn.execute(sql, params)
            return await cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            if self._conn.broken:
                raise lost(self.dsn, exc) from None
            raise DwarfError(f"PostgreSQL {self.dsn.masked()}: {gist(exc, self.dsn)}") from None

    async def table_exists(self) -> bool:
        rows = await self._run("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
        return bool(rows[0][0])

    async def read_rows(self) -> list[AppliedRow]:
        if not await self.table_exists():
            return []
        return applied_rows(await self._run(SELECT_ROWS))

    @asynccontextmanager
    async def locked(self, wait: float) -> AsyncIterator[None]:
        deadline = time.monotonic() + wait
        while not (await self._run("SELECT pg_try_advisory_lock(%s)", (_PG_LOCK_KEY,)))[0][0]:
            if time.monotonic() >= deadline:
                raise UnavailableError(
                    f"another migrator held the migration lock on {self.dsn.masked()} "
                    f"for more than {wait:g} s"
                )
            await asyncio.sleep(_LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            # A failed unlock means a dead session, which has released the lock already.
            with contextlib.suppress(DwarfError):
                await self._run("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))

    async def ensure_table(self) -> None:
        await self._run(bookkeeping_ddl(self.dialect))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield

    async def apply(self, migration: MigrationLike, version_before: int) -> None:
        import psycopg

        try:
            for statement in migration.statements:
                if statement.strip():
                    await self._conn.execute(statement)
        except psycopg.Error as exc:
            if self._conn.broken:
                raise lost(self.dsn, exc) from None
            raise failed(self.dsn, migration, exc, version_before, partial=False) from None
        await self._run(f"DELETE FROM {TABLE} WHERE version = %s", (migration.version,))
        await self._run(
            f"INSERT INTO {TABLE} (version, name, checksum, applied_at) "
            f"VALUES (%s, %s, %s, {now_utc(self.dialect)})",
            (migration.version, migration.name, migration.checksum),
        )

    async def close(self) -> None:
        await self._conn.close()


class _MySQLBackend:
    dialect: Dialect = "mysql"

    def __init__(self, dsn: Dsn, conn: Any) -> None:
        self.dsn = dsn
        self._conn = conn
        # GET_LOCK names are server-wide, so the database name makes the lock per database.
        self._lock_name = f"{LOCK_NAME}.{dsn.database}"[:64]

    async def _run(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        import asyncmy.errors

        try:
            async with self._conn.cursor() as cur:
                await cur.execute(sql, params)
                rows = await cur.fetchall() if cur.description else []
            return list(rows)
        except asyncmy.errors.MySQLError as exc:
            if _mysql_code(exc) in _MYSQL_LOST:
                raise lost(self.dsn, exc) from None
            raise DwarfError(f"MySQL {self.dsn.masked()}: {gist(exc, self.dsn)}") from None

    async def table_exists(self) -> bool:
        rows = await self._run(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            (TABLE,),
        )
        return bool(rows[0][0])

    async def read_rows(self) -> list[AppliedRow]:
        if not await self.table_exists():
            return []
        return applied_rows(await self._run(SELECT_ROWS))

    @asynccontextmanager
    async def locked(self, wait: float) -> AsyncIterator[None]:
        got = await self._run("SELECT GET_LOCK(%s, %s)", (self._lock_name, max(0, int(wait))))
        if got[0][0] != 1:
            raise UnavailableError(
                f"another migrator held the migration lock on {self.dsn.masked()} "
                f"for more than {wait:g} s"
            )
        try:
            yield
        finally:
            with contextlib.suppress(DwarfError):
                await self._run("SELECT RELEASE_LOCK(%s)", (self._lock_name,))

    async def ensure_table(self) -> None:
        # IF NOT EXISTS on an existing table answers with a note: the session has sql_notes off.
        await self._run(bookkeeping_ddl(self.dialect))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        # No transactional DDL: apply() marks the migration started, then finished.
        yield

    async def apply(self, migration: MigrationLike, version_before: int) -> None:
        import asyncmy.errors

        await self._run(
            f"DELETE FROM {TABLE} WHERE version = %s AND applied_at IS NULL", (migration.version,)
        )
        await self._run(
            f"INSERT INTO {TABLE} (version, name, checksum, applied_at) VALUES (%s, %s, %s, NULL)",
            (migration.version, migration.name, migration.checksum),
        )
        try:
            async with self._conn.cursor() as cur:
                for statement in migration.statements:
                    if statement.strip():
                        await cur.execute(statement)
        except asyncmy.errors.MySQLError as exc:
            if _mysql_code(exc) in _MYSQL_LOST:
                raise lost(self.dsn, exc) from None
            raise failed(self.dsn, migration, exc, version_before, partial=True) from None
        await self._run(
            f"UPDATE {TABLE} SET applied_at = {now_utc(self.dialect)} WHERE version = %s",
            (migration.version,),
        )

    async def close(self) -> None:
        self._conn.close()


class _SQLiteBackend:
    """Statements run in a worker thread: waiting for the write lock (the busy timeout, raised to
    the lock timeout) must not block the event loop."""

    dialect: Dialect = "sqlite"

    def __init__(self, dsn: Dsn, conn: sqlite3.Connection) -> None:
        self.dsn = dsn
        self._conn = conn

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cur = self._conn.execute(sql, params)
        try:
            return [tuple(row) for row in cur.fetchall()]
        finally:
            cur.close()

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return await asyncio.to_thread(self._fetch, sql, params)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise UnavailableError(
                    f"the SQLite database {self.dsn.path!r} stayed locked by another "
                    "connection; try again"
                ) from None
            raise DwarfError(f"SQLite {self.dsn.path!r}: {gist(exc, self.dsn)}") from None

    async def table_exists(self) -> bool:
        rows = await self._run(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        )
        return bool(rows[0][0])

    async def read_rows(self) -> list[AppliedRow]:
        if not await self.table_exists():
            return []
        return applied_rows(await self._run(SELECT_ROWS))

    @asynccontextmanager
    async def locked(self, wait: float) -> AsyncIterator[None]:
        # The lock is each transaction's BEGIN IMMEDIATE; waiting for it is the busy timeout.
        await self._run(f"PRAGMA busy_timeout = {max(0, int(wait * 1000))}")
        yield

    async def ensure_table(self) -> None:
        async with self.transaction():
            await self._run(bookkeeping_ddl(self.dialect))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self._run("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # Some errors end the transaction themselves; ROLLBACK would then fail.
            if self._conn.in_transaction:
                await asyncio.to_thread(self._fetch, "ROLLBACK", ())
            raise
        await self._run("COMMIT")

    async def apply(self, migration: MigrationLike, version_before: int) -> None:
        try:
            for statement in migration.statements:
                if statement.strip():
                    await asyncio.to_thread(self._fetch, statement, ())
        except sqlite3.Error as exc:
            raise failed(self.dsn, migration, exc, version_before, partial=False) from None
        await self._run(f"DELETE FROM {TABLE} WHERE version = ?", (migration.version,))
        await self._run(
            f"INSERT INTO {TABLE} (version, name, checksum, applied_at) "
            f"VALUES (?, ?, ?, {now_utc(self.dialect)})",
            (migration.version, migration.name, migration.checksum),
        )

    async def close(self) -> None:
        self._conn.close()
