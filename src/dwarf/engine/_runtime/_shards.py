"""Opening a replica's shards at startup: migrate each database, then open its store."""

from __future__ import annotations

from dwarf._migrate import migrate
from dwarf._storage import Store, open_store, parse_dsn, private_memory, shard_dsns
from dwarf.engine._runtime._config import Config
from dwarf.engine._runtime._keys import new_token

__all__ = ["open_shards"]


async def open_shards(config: Config) -> list[Store]:
    """Migrate and open every shard ``config`` names; on failure nothing is left open."""
    dsns = shard_dsns(private_memory(parse_dsn(config.dsn), new_token()), config.num_shards)
    shards: list[Store] = []
    try:
        for index, dsn in enumerate(dsns, start=1):
            # An in-memory database lives only while a connection holds it: open first.
            if not dsn.is_memory:
                await migrate(dsn)
            shard = await open_store(index, dsn, max_open_conns=config.max_open_conns)
            shards.append(shard)
            if dsn.is_memory:
                await migrate(dsn)
    except BaseException:
        for shard in shards:
            await shard.close()
        raise
    return shards
