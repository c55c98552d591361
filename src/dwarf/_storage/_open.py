"""Opening a store for a shard's DSN: the one place that maps a dialect to its ``Store``."""

from __future__ import annotations

from dwarf._storage._drivers import require_driver
from dwarf._storage._dsn import Dsn
from dwarf._storage._store import Store

__all__ = ["open_store"]


async def open_store(index: int, dsn: Dsn, *, max_open_conns: int) -> Store:
    """Open shard ``index`` at ``dsn`` (already expanded for the shard).

    A dialect whose driver extra is not installed is an ``UnavailableError`` naming the extra,
    raised before any dialect module (which imports its driver) is loaded.
    """
    require_driver(dsn.dialect)
    if dsn.dialect == "postgresql":
        from dwarf._storage._postgresql import PostgresqlStore

        return await PostgresqlStore.open(index, dsn, max_open_conns)
    if dsn.dialect == "mysql":
        from dwarf._storage._mysql import MysqlStore

        return await MysqlStore.open(index, dsn, max_open_conns)
    if dsn.dialect == "sqlite":
        from dwarf._storage._sqlite import SqliteStore

        return await SqliteStore.open(index, dsn)
    from dwarf._storage._sqlserver import SqlserverStore

    return await SqlserverStore.open(index, dsn, max_open_conns)
