"""Tutorial step 2: the order workflow of step 1 on PostgreSQL.

Run, after ``dwarf migrate --dsn DSN``:
    python examples/tutorial/step2_postgresql.py postgresql://user@127.0.0.1:5432/orders
(or set DWARF_DSN instead of passing the DSN).

The graph, the tasks and the engine are step 1's: only the DSN changes. The flow is created,
started and awaited as three calls, and its key printed for the ``dwarf`` command line.
"""

from __future__ import annotations

import asyncio
import os
import sys

from step1_first_workflow import order_engine


# --8<-- [start:main]
async def main(dsn: str) -> None:
    async with order_engine(dsn) as engine:
        key = await engine.create("order", {"order": "o-2", "items": ["kettle", "tea"]})
        await engine.start(key)  # any replica on this database may now run its steps
        outcome = await engine.await_flow(key, timeout=30)
        print(f"flow:    {key}")
        print(f"status:  {outcome.status}")
        print(f"message: {outcome.state['message']}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else os.environ["DWARF_DSN"]))
# --8<-- [end:main]
