"""Which driver errors mean "lost a race, run it again", and which are the driver's at all.

Lock contention (deadlock, serialization failure, lock wait timeout, SQLite busy; SQL Server's
deadlock victim and lock timeout) rolls the losing transaction back whole, so ``Store.transact``
re-runs its closure; any other driver error becomes a ``StorageError`` with the DSN's secrets
scrubbed.
"""

from __future__ import annotations

import re
import sqlite3

__all__ = ["is_contention", "is_driver_error"]

# MySQL/MariaDB: deadlock found, lock wait timeout.
_MYSQL_CONTENTION = frozenset({1213, 1205})
# PostgreSQL SQLSTATEs: serialization failure, deadlock detected, lock not available.
_POSTGRES_CONTENTION = frozenset({"40001", "40P01", "55P03"})
# SQL Server (pyodbc: args are SQLSTATE and a message ending "(<native error>) (<function>)"):
# deadlock victim 1205 (SQLSTATE 40001), lock request timeout 1222.
_SQLSERVER_CONTENTION = re.compile(r"\((?:1205|1222)\) \(\w+\)\s*$")
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
