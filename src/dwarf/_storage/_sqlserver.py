"""SQL Server: aioodbc connections over an ODBC driver (FreeTDS by default), pooled.

Untested here: no SQL Server runs where dwarf is developed, so this module and the generated
accessors it serves have never run against a server. The storage and engine conformance suites
run on SQL Server when ``DWARF_TEST_MSSQL_DSN`` names one.

Why it looks like this:

- The ODBC connection string is built from the parsed DSN with every value in braces and each
  ``}`` doubled (the ODBC escaping rule), so a password holding ``;`` or ``}`` cannot end its
  attribute and smuggle in another. The string carries the password: it is handed to the driver
  and never logged or put in an error; driver messages are scrubbed of the DSN's secrets.
- The driver is Debian's FreeTDS (``tdsodbc`` registers it as ``FreeTDS``), told to speak TDS 7.4
  (SQL Server 2012+) instead of probing, and to exchange text as UTF-8. ``?driver=`` names another
  installed ODBC driver (Microsoft's ``ODBC Driver 18 for SQL Server``), which takes the port as
  ``Server=host,port`` and gets no FreeTDS keywords.
- Connections run in autocommit and a transaction is an explicit ``BEGIN TRANSACTION`` ...
  ``COMMIT TRANSACTION``, as on the other server dialects: pyodbc's non-autocommit mode opens an
  implicit transaction at every statement, so a bare read (``Store.read``) would keep its locks
  until something committed.
- Each session says READ COMMITTED (a server or pooled session could carry another level),
  ``LOCK_TIMEOUT`` (default 5 s, ``?lock_timeout=`` ms) so a blocked statement fails with error
  1222 instead of waiting forever (the shard retries it like a deadlock victim's 1205), and
  ``XACT_ABORT ON`` so any failed statement rolls back its whole transaction rather than leaving
  the rest open.
- ``?login_timeout=`` (default 10 s) bounds connecting: an unreachable server is an error within
  that, never a hang. A missing ODBC driver fails at once, naming the package that provides it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from dwarf._storage._drivers import require_driver
from dwarf._storage._dsn import Dsn, scrub
from dwarf._storage._gen import sqlserver as ms
from dwarf._storage._pool import Pool
from dwarf._storage._store import Store
from dwarf.errors import BadRequestError, DwarfError, UnavailableError

__all__ = [
    "SqlserverStore",
    "connect_sqlserver",
    "odbc_connection_string",
    "sqlserver_error",
]

DEFAULT_DRIVER: Final = "FreeTDS"
DEFAULT_TDS_VERSION: Final = "7.4"
DEFAULT_PORT: Final = 1433
DEFAULT_LOGIN_TIMEOUT: Final = 10
DEFAULT_LOCK_TIMEOUT_MS: Final = 5000

_PARAMS: Final = frozenset({"driver", "tds_version", "login_timeout", "lock_timeout"})
# pyodbc ends every message with "(<native error>) (<ODBC function>)".
_NATIVE_ERROR = re.compile(r"\((-?\d+)\) \(\w+\)\s*$")
# "[08S01] [FreeTDS][SQL Server]" and the like in front of the server's own words, and the
# ODBC function's name after them: noise in a one-line error.
_PREFIXES = re.compile(r"^(?:\[[^\]]*\]\s*)+")
_FUNCTION = re.compile(r"\s*\(\w+\)\s*$")
_LOGIN_FAILED: Final = 18456
_CANNOT_OPEN_DATABASE: Final = 4060


def odbc_connection_string(dsn: Dsn) -> str:
    """The ODBC connection string for ``dsn`` (it holds the password: never show it)."""
    unknown = sorted(set(dsn.params) - _PARAMS)
    if unknown:
        raise BadRequestError(
            f"unsupported SQL Server DSN parameter {unknown[0]!r}: "
            f"supported are {', '.join(sorted(_PARAMS))}"
        )
    driver = dsn.params.get("driver", DEFAULT_DRIVER)
    freetds = "freetds" in driver.lower()
    host = dsn.host or "localhost"
    port = dsn.port or DEFAULT_PORT
    attributes: dict[str, str] = {"DRIVER": _braced(driver)}
    if freetds:
        attributes["SERVER"] = _braced(host)
        attributes["PORT"] = str(port)
    else:
        attributes["SERVER"] = _braced(f"{host},{port}")
    attributes["DATABASE"] = _braced(dsn.database)
    if dsn.user:
        attributes["UID"] = _braced(dsn.user)
        attributes["PWD"] = _braced(dsn.password)
    if freetds:
        attributes["TDS_Version"] = _braced(dsn.params.get("tds_version", DEFAULT_TDS_VERSION))
        attributes["ClientCharset"] = "UTF-8"
    return ";".join(f"{key}={value}" for key, value in attributes.items())


def _braced(value: str) -> str:
    """``value`` as an ODBC attribute value: in braces, each ``}`` doubled."""
    return "{" + value.replace("}", "}}") + "}"


def _secrets(dsn: Dsn) -> tuple[str, ...]:
    # The password as the connection string spells it, too, should a driver echo that.
    return (*dsn.secrets(), *(_braced(s) for s in dsn.secrets()))


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise BadRequestError(f"the DSN parameter {name!r} must be a whole number, got {text!r}")
    return int(text)


async def connect_sqlserver(dsn: Dsn) -> Any:
    """Open an aioodbc connection in autocommit with dwarf's session settings."""
    require_driver(dsn.dialect)
    import aioodbc
    import pyodbc

    conn_str = odbc_connection_string(dsn)
    login_timeout = _int_param(dsn.params, "login_timeout", DEFAULT_LOGIN_TIMEOUT)
    lock_timeout = _int_param(dsn.params, "lock_timeout", DEFAULT_LOCK_TIMEOUT_MS)
    try:
        conn = await aioodbc.connect(dsn=conn_str, autocommit=True, timeout=login_timeout)
    except pyodbc.Error as exc:
        raise sqlserver_error(exc, dsn) from None
    try:
        await _execute(
            conn,
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; "
            f"SET LOCK_TIMEOUT {lock_timeout}; SET XACT_ABORT ON",
        )
    except pyodbc.Error as exc:
        await conn.close()
        raise sqlserver_error(exc, dsn) from None
    except BaseException:
        await conn.close()
        raise
    return conn


async def _execute(conn: Any, sql: str) -> None:
    cur = await conn.cursor()
    try:
        await cur.execute(sql)
    finally:
        await cur.close()


def sqlserver_error(exc: BaseException, dsn: Dsn) -> DwarfError:
    """A pyodbc connection error as a one-line ``DwarfError`` without the password."""
    args = exc.args
    sqlstate = str(args[0]) if len(args) >= 2 else ""
    message = str(args[1]) if len(args) >= 2 else str(exc)
    native = _NATIVE_ERROR.search(message)
    code = int(native.group(1)) if native else 0
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    reason = scrub(_FUNCTION.sub("", _PREFIXES.sub("", first)), _secrets(dsn))
    where = f"{dsn.host or 'localhost'}:{dsn.port or DEFAULT_PORT}"
    driver = dsn.params.get("driver", DEFAULT_DRIVER)
    if sqlstate == "IM002" or "Can't open lib" in message:
        return UnavailableError(
            f"the ODBC driver {driver!r} is not installed (FreeTDS on Debian: apt-get install "
            f"tdsodbc; or name an installed one with ?driver=): {reason}"
        )
    if sqlstate == "28000" or code == _LOGIN_FAILED:
        return BadRequestError(
            f"SQL Server at {where} refused the login of user {dsn.user!r}: "
            "check the user name and password"
        )
    if code == _CANNOT_OPEN_DATABASE:
        return BadRequestError(
            f"database {dsn.database!r} does not exist on SQL Server at {where}, or user "
            f"{dsn.user!r} may not use it: create it first (dwarf creates tables, never databases)"
        )
    if sqlstate.startswith("08") or sqlstate == "HYT00":
        return UnavailableError(f"cannot reach SQL Server at {where}: {reason}")
    return DwarfError(f"SQL Server at {where}: {reason}")


class SqlserverStore(Store):
    """A SQL Server shard: a bounded pool of aioodbc connections in autocommit (no fast paths)."""

    dialect = "sqlserver"

    def __init__(self, index: int, dsn: Dsn, size: int) -> None:
        super().__init__(index, dsn, ms)
        self._pool: Pool[Any] = Pool(
            self._connect, size, close=_close, alive=lambda conn: not conn.closed
        )

    @classmethod
    async def open(cls, index: int, dsn: Dsn, size: int) -> SqlserverStore:
        """Open shard ``index`` with up to ``size`` connections; fails now on a bad DSN."""
        store = cls(index, dsn, size)
        await store._pool.warm()
        return store

    async def _connect(self) -> Any:
        return await connect_sqlserver(self.dsn)

    def _acquire(self) -> Any:
        return self._pool.connection()

    async def _begin(self, conn: Any) -> None:
        await _execute(conn, "BEGIN TRANSACTION")

    async def _commit(self, conn: Any) -> None:
        await _execute(conn, "COMMIT TRANSACTION")

    async def _rollback(self, conn: Any) -> None:
        # XACT_ABORT may have rolled the transaction back already. A connection that cannot
        # even roll back is broken: close it so the pool drops it instead of lending it again.
        try:
            await _execute(conn, "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
        except BaseException:
            await conn.close()
            raise

    async def _close(self) -> None:
        await self._pool.close()


async def _close(conn: Any) -> None:
    await conn.close()
