"""Which driver errors mean "lost a race, run it again", and which are the driver's at all.

Lock contention (deadlock, serialization failure, lock wait timeout, SQLite busy; SQL Server's
deadlock victim and lock timeout) rolls the losing transaction back whole, so ``Store.transact``
re-runs its closure. A transient fault (the connection was terminated or lost, the server is
restarting or unreachable) is retried within a bounded window and then becomes
``UnavailableError`` (docs/internals/storage.md, "Database faults"). Any other driver error
becomes a ``StorageError`` with the DSN's secrets scrubbed.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from contextvars import ContextVar

from dwarf.errors import UnavailableError

__all__ = ["is_contention", "is_driver_error", "is_transient", "replay_is_unsafe", "replay_unsafe"]

# Set while running work that must not run twice if its first run may have committed.
_replay_unsafe: ContextVar[bool] = ContextVar("dwarf_replay_unsafe", default=False)


@contextlib.contextmanager
def replay_unsafe() -> Iterator[None]:
    """Inside: a transient fault that may have hit a committed write raises at once.

    For work whose second run would not be harmless (inserting a new flow), where "maybe
    written" must reach the caller as ``UnavailableError`` rather than be retried.
    """
    token = _replay_unsafe.set(True)
    try:
        yield
    finally:
        _replay_unsafe.reset(token)


def replay_is_unsafe() -> bool:
    """Whether the running work is inside ``replay_unsafe``."""
    return _replay_unsafe.get()


# MySQL/MariaDB: deadlock found, lock wait timeout.
_MYSQL_CONTENTION = frozenset({1213, 1205})
# PostgreSQL SQLSTATEs: serialization failure, deadlock detected, lock not available.
_POSTGRES_CONTENTION = frozenset({"40001", "40P01", "55P03"})
# SQL Server (pyodbc: args are SQLSTATE and a message ending "(<native error>) (<function>)"):
# deadlock victim 1205 (SQLSTATE 40001), lock request timeout 1222.
_SQLSERVER_CONTENTION = re.compile(r"\((?:1205|1222)\) \(\w+\)\s*$")
# PostgreSQL SQLSTATEs of a lost session: class 08 (connection exception) and operator
# intervention (admin shutdown = pg_terminate_backend or a restart, crash shutdown, starting up).
_POSTGRES_TRANSIENT = frozenset({"57P01", "57P02", "57P03"})
# MySQL/MariaDB: server gone away, lost connection, cannot connect, server shutdown, connection
# killed (MariaDB ER_CONNECTION_KILLED), query interrupted, disconnected for inactivity (8.0).
_MYSQL_TRANSIENT = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1927, 1317, 4031})
_DRIVER_MODULES = frozenset({"psycopg", "asyncmy", "sqlite3", "pymysql", "pyodbc"})


def is_contention(exc: BaseException) -> bool:
    """True for errors that mean "another transaction won a race; run the closure again"."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    if type(exc).__module__ == "pyodbc" and len(exc.args) == 2:
        sqlstate, message = exc.args
        return sqlstate == "40001" or bool(_SQLSERVER_CONTENTION.search(str(message)))
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate in _POSTGRES_CONTENTION
    code = exc.args[0] if exc.args else None
    return isinstance(code, int) and code in _MYSQL_CONTENTION


def is_driver_error(exc: BaseException) -> bool:
    """True for an exception raised by one of the database drivers."""
    return type(exc).__module__.split(".")[0] in _DRIVER_MODULES


def is_transient(exc: BaseException) -> bool:
    """True for a fault of the connection or the server rather than of the statement.

    Such a fault says nothing about the work itself: the same work on a fresh connection, once
    the server is back, succeeds. The connect path reports an unreachable server as
    ``UnavailableError`` already (``_storage._connect``), so it counts too.
    """
    if isinstance(exc, UnavailableError | ConnectionError | TimeoutError):
        return True
    module = type(exc).__module__.split(".")[0]
    if module == "psycopg":
        import psycopg

        if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return False
        sqlstate = getattr(exc, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith("08") or sqlstate in _POSTGRES_TRANSIENT
    if module in {"asyncmy", "pymysql"}:
        code = exc.args[0] if exc.args else None
        return isinstance(code, int) and code in _MYSQL_TRANSIENT
    return False
