"""Open one database connection per dialect, with dwarf's session settings.

Sessions are set up the way the SQL assumes (docs/internals/transitions.md#t2):

- PostgreSQL (psycopg): the session time zone is UTC, so ``NOW_UTC()`` (a zone-less timestamp)
  lands in ``TIMESTAMPTZ`` columns unshifted. Returned in psycopg's default non-autocommit mode.
- MySQL/MariaDB (asyncmy): READ COMMITTED (REPEATABLE READ gap locks deadlock concurrent
  creations), utf8mb4, UTC session time zone, autocommit off.
- SQLite (the standard library's sqlite3, no extra needed): explicit transactions
  (``isolation_level=None``, so callers issue ``BEGIN IMMEDIATE`` themselves: read-first deferred
  transactions deadlock on lock upgrade), ``busy_timeout`` (default 1000 ms, ``?busy_timeout=``
  overrides), foreign keys on, and WAL for files so readers do not block the single writer. The
  file is created if missing; its directory must exist. It is opened in a worker thread, since
  switching to WAL may wait for another connection's lock.
- SQL Server: see ``dwarf._storage._sqlserver`` (aioodbc over FreeTDS; untested here).

Driver errors become one-line ``DwarfError``s that never contain a password: an unreachable server
is ``UnavailableError``; a rejected login, a missing database or a bad DSN parameter is
``BadRequestError``. Drivers are imported on first use, so importing this module is cheap.
Connection pools belong to the engine; this module opens single connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import quote, urlencode

from dwarf._storage._dsn import Dsn, scrub
from dwarf.errors import BadRequestError, DwarfError, UnavailableError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "Connection",
    "connect",
    "connect_mysql",
    "connect_postgresql",
    "connect_sqlite",
]

Connection: TypeAlias = "psycopg.AsyncConnection[tuple[Any, ...]] | sqlite3.Connection | Any"
"""What ``connect`` returns: a psycopg, sqlite3, asyncmy or aioodbc connection (the last two are
untyped)."""

DEFAULT_CONNECT_TIMEOUT: Final = 10
DEFAULT_BUSY_TIMEOUT_MS: Final = 1000

_WAL_MIN_WAIT_MS: Final = 1000
_WAL_RETRY_SECONDS: Final = 0.05
_MYSQL_PARAMS: Final = frozenset({"connect_timeout", "unix_socket"})
_SQLITE_PARAMS: Final = frozenset({"busy_timeout", "mode", "cache"})
# MySQL client/server error codes: login refused, database refused or unknown, server unreachable.
_MYSQL_LOGIN_ERRORS: Final = frozenset({1045, 1698})
_MYSQL_DATABASE_ERRORS: Final = frozenset({1044, 1049})
_MYSQL_UNREACHABLE_ERRORS: Final = frozenset({2002, 2003, 2005, 2006, 2013})


async def connect(dsn: Dsn) -> Connection:
    """Open a connection to ``dsn`` with dwarf's session settings for its dialect."""
    if dsn.dialect == "postgresql":
        return await connect_postgresql(dsn)
    if dsn.dialect == "mysql":
        return await connect_mysql(dsn)
    if dsn.dialect == "sqlite":
        return await connect_sqlite(dsn)
    # Imported here: the SQL Server module builds on the shard machinery, which imports this one.
    from dwarf._storage._sqlserver import connect_sqlserver

    return await connect_sqlserver(dsn)


async def connect_postgresql(dsn: Dsn) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """Open a psycopg connection in UTC, not in autocommit mode."""
    import psycopg

    where = _where(dsn, 5432)
    kwargs: dict[str, Any] = {"dbname": dsn.database, "connect_timeout": DEFAULT_CONNECT_TIMEOUT}
    if dsn.host:
        kwargs["host"] = dsn.host
    if dsn.port is not None:
        kwargs["port"] = dsn.port
    if dsn.user:
        kwargs["user"] = dsn.user
    if dsn.password:
        kwargs["password"] = dsn.password
    kwargs.update(dsn.params)
    try:
        conn = await psycopg.AsyncConnection.connect(**kwargs)
    except psycopg.ProgrammingError as exc:
        # libpq rejects unknown or malformed connection options before connecting.
        raise BadRequestError(
            f"PostgreSQL rejected the DSN {dsn.masked()!r}: {_one_line(exc, dsn)}"
        ) from None
    except (psycopg.Error, OSError) as exc:
        raise _postgresql_error(exc, dsn, where) from None
    try:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.commit()
    except psycopg.Error as exc:
        await conn.close()
        raise UnavailableError(
            f"PostgreSQL at {where} failed while setting up the session: {_one_line(exc, dsn)}"
        ) from None
    except BaseException:
        # Cancelled mid-setup (an engine shutting down): never leak the open connection.
        await conn.close()
        raise
    return conn


async def connect_mysql(dsn: Dsn) -> Any:
    """Open an asyncmy connection: READ COMMITTED, utf8mb4, UTC, autocommit off."""
    import asyncmy
    import asyncmy.errors
    from asyncmy.constants import CLIENT

    unknown = sorted(set(dsn.params) - _MYSQL_PARAMS)
    if unknown:
        raise BadRequestError(
            f"unsupported MySQL DSN parameter {unknown[0]!r}: "
            f"supported are {', '.join(sorted(_MYSQL_PARAMS))}"
        )
    where = _where(dsn, 3306)
    kwargs: dict[str, Any] = {
        "host": dsn.host or "localhost",
        "port": dsn.port or 3306,
        "user": dsn.user or None,
        "password": dsn.password,
        "db": dsn.database,
        "charset": "utf8mb4",
        "autocommit": False,
        # Rows-affected must count matched rows, not changed ones: a guarded UPDATE that sets
        # the values a row already has (same millisecond) must still report its match. The
        # hot path sends its transactions as multi-statement scripts (storage.md S12b), so that
        # flag is asked for here rather than left to the driver's defaults.
        "client_flag": CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
        "connect_timeout": _int_param(dsn, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
    }
    if "unix_socket" in dsn.params:
        kwargs["unix_socket"] = dsn.params["unix_socket"]
    try:
        conn = await asyncmy.connect(**kwargs)
    except asyncmy.errors.MySQLError as exc:
        raise _mysql_error(exc, dsn, where) from None
    except (TimeoutError, OSError) as exc:
        raise UnavailableError(
            f"cannot reach MySQL at {where}: {_one_line(exc, dsn) or type(exc).__name__}"
        ) from None
    try:
        async with conn.cursor() as cur:
            await cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            await cur.execute("SET time_zone = '+00:00'")
        await conn.commit()
    except asyncmy.errors.MySQLError as exc:
        conn.close()
        raise _mysql_error(exc, dsn, where) from None
    except BaseException:
        conn.close()
        raise
    return conn


async def connect_sqlite(dsn: Dsn) -> sqlite3.Connection:
    """Open a sqlite3 connection with explicit transactions, busy timeout and foreign keys.

    It is not tied to a thread (``check_same_thread=False``): use it from one task at a time, and
    run statements that may wait for a lock in a worker thread (``asyncio.to_thread``).
    """
    unknown = sorted(set(dsn.params) - _SQLITE_PARAMS)
    if unknown:
        raise BadRequestError(
            f"unsupported SQLite DSN parameter {unknown[0]!r}: "
            f"supported are {', '.join(sorted(_SQLITE_PARAMS))}"
        )
    busy_timeout = _int_param(dsn, "busy_timeout", DEFAULT_BUSY_TIMEOUT_MS)
    uri_params = {k: v for k, v in dsn.params.items() if k in {"mode", "cache"}}
    uri = "file:" + quote(dsn.path, safe="/:")
    if uri_params:
        uri += "?" + urlencode(uri_params)
    return await asyncio.to_thread(_open_sqlite, dsn, uri, busy_timeout)


def _open_sqlite(dsn: Dsn, uri: str, busy_timeout: int) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise BadRequestError(
            f"cannot open the SQLite database {dsn.path!r}: {_one_line(exc, dsn)} "
            "(does its directory exist?)"
        ) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not dsn.is_memory:
            _use_wal(conn, busy_timeout)
    except sqlite3.Error as exc:
        conn.close()
        raise BadRequestError(
            f"cannot use the SQLite database {dsn.path!r}: {_one_line(exc, dsn)}"
        ) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Switch to WAL once per file; the switch needs an exclusive lock and, unlike ordinary
    statements, does not wait for it, so retry for up to the busy timeout."""
    row = conn.execute("PRAGMA journal_mode").fetchone()
    if row is not None and str(row[0]).lower() == "wal":
        return
    deadline = time.monotonic() + max(busy_timeout_ms, _WAL_MIN_WAIT_MS) / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise UnavailableError(
                    f"cannot switch the SQLite database to WAL: {exc}; another connection "
                    "kept it locked"
                ) from None
        time.sleep(_WAL_RETRY_SECONDS)


def _postgresql_error(exc: BaseException, dsn: Dsn, where: str) -> DwarfError:
    text = str(exc)
    reason = _one_line(exc, dsn)
    if "password" in text or "authentication failed" in text or "role" in text:
        return BadRequestError(
            f"PostgreSQL at {where} refused the login of user {dsn.user!r}: "
            "check the user name and password"
        )
    if "database" in text and "does not exist" in text:
        return BadRequestError(
            f"database {dsn.database!r} does not exist on PostgreSQL at {where}: "
            "create it first (dwarf creates tables, never databases)"
        )
    return UnavailableError(f"cannot reach PostgreSQL at {where}: {reason}")


def _mysql_error(exc: BaseException, dsn: Dsn, where: str) -> DwarfError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    reason = _one_line(exc, dsn)
    if code in _MYSQL_LOGIN_ERRORS:
        return BadRequestError(
            f"MySQL at {where} refused the login of user {dsn.user!r}: "
            "check the user name and password"
        )
    if code == 1049:
        return BadRequestError(
            f"database {dsn.database!r} does not exist on MySQL at {where}: "
            "create it first (dwarf creates tables, never databases)"
        )
    if code in _MYSQL_DATABASE_ERRORS:
        return BadRequestError(
            f"user {dsn.user!r} may not use database {dsn.database!r} on MySQL at {where}"
        )
    if code in _MYSQL_UNREACHABLE_ERRORS:
        return UnavailableError(f"cannot reach MySQL at {where}: {reason}")
    return DwarfError(f"MySQL at {where}: {reason}")


def _one_line(exc: BaseException, dsn: Dsn) -> str:
    """The driver's message reduced to its gist on one line, with secrets removed."""
    args = exc.args
    text = args[1] if len(args) == 2 and isinstance(args[0], int) else str(exc)
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    # libpq prefixes the reason with where it was going: keep only the reason.
    _, marker, reason = first.rpartition("failed: ")
    gist = reason if marker and reason else first
    return scrub(gist.replace("FATAL:", "").strip(), dsn.secrets())


def _where(dsn: Dsn, default_port: int) -> str:
    host = dsn.host or "localhost"
    return f"{host}:{dsn.port or default_port}"


def _int_param(dsn: Dsn, name: str, default: int) -> int:
    text = dsn.params.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise BadRequestError(f"the DSN parameter {name!r} must be a whole number, got {text!r}")
    return int(text)
