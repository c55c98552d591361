"""Which installable extra brings each dialect's driver, and the error when it is missing.

Server drivers are extras (``dwarf[postgresql]``, ``dwarf[mysql]``, ``dwarf[sqlserver]``) so an
install carries only the driver its database needs; SQLite runs on the standard library and
needs none. ``require_driver`` is called before anything imports a driver (opening a shard,
opening a migration backend), so a missing one surfaces as one ``UnavailableError`` naming the
extra to install, never as an ``ImportError`` traceback from deep inside the storage layer.

Why ``UnavailableError`` (503) and not ``BadRequestError`` (400): the DSN and the request are
well-formed, and the same call succeeds once the extra is installed; the installation cannot
serve the dialect, just as an unreachable server cannot. ``dwarf migrate`` accordingly exits 1
(failure), as for an unreachable server, not 2 (usage).

This module imports nothing but the standard library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from dwarf._storage._dsn import Dialect
from dwarf.errors import UnavailableError

__all__ = ["require_driver"]


@dataclass(frozen=True, slots=True)
class _Driver:
    database: str
    module: str
    extra: str
    system: str = ""
    """System libraries the Python package needs too, said in the error."""


_DRIVERS: Final[Mapping[Dialect, _Driver]] = {
    "postgresql": _Driver("PostgreSQL", "psycopg", "postgresql"),
    "mysql": _Driver("MySQL/MariaDB", "asyncmy", "mysql"),
    "sqlserver": _Driver(
        "SQL Server",
        "aioodbc",
        "sqlserver",
        system=" and the unixODBC and FreeTDS libraries (Debian: apt-get install unixodbc tdsodbc)",
    ),
}


def require_driver(dialect: Dialect) -> None:
    """Import ``dialect``'s driver, or raise ``UnavailableError`` naming the extra to install."""
    driver = _DRIVERS.get(dialect)
    if driver is None:
        return
    try:
        importlib.import_module(driver.module)
    except ImportError as exc:
        # The reason tells "not installed" from "installed but broken" (a missing libpq or
        # libodbc makes the package itself fail to import).
        raise UnavailableError(
            f"{driver.database} needs the {driver.module} driver{driver.system}: "
            f"pip install 'dwarf[{driver.extra}]' (importing {driver.module} failed: {exc})"
        ) from None
