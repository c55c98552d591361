"""One soak replica: ``python -m dwarf._soak._replica DSN``; runs the workload until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

from dwarf._soak._workload import proxy
from dwarf.engine import Engine

REPLICA_TIMEOUT = 3.0
TIME_BUDGET = 60.0


async def main(dsn: str) -> None:
    """Serve the soak's tasks on ``dsn`` until SIGTERM (or a SIGKILL from the driver)."""
    p = proxy()
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(p.load_graph)
        .with_task_executor(p.execute_task)
        .with_workers(16)
        .with_max_open_conns(4)
        .with_time_budget(TIME_BUDGET)
        .with_replica_timeout(REPLICA_TIMEOUT)
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with engine:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
