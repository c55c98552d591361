"""Two replicas share one PostgreSQL database; one is killed mid-run, the other finishes its work.

Run: python examples/two_replicas.py [DSN]
(default DSN: postgresql://postgres@127.0.0.1:5432/test; the database must exist)

The program starts two replica processes, ``a`` and ``b`` (``python examples/two_replicas.py
replica NAME DSN``), each with its own engine on the same database; then it creates flows from an
engine of its own that runs no step (``with_workers(0)``). Each flow is three steps, and every
step records which replica ran it:

    fetch -> resize -> publish    (each writes fetch_by, resize_by, publish_by: "a" or "b")

Replicas wake each other through the database (``with_database_signals``: PostgreSQL's
LISTEN/NOTIFY), so a new flow starts at once on either.

Once replica ``a`` is busy, the program SIGKILLs it. Its running steps stay claimed by a dead
process until ``b`` notices that ``a`` stopped heartbeating (``with_replica_timeout``, 3 s here)
and takes them over: every flow completes, and every step is recorded once
(docs/reliability.md, docs/internals/liveness.md).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.workflow import END, Flow, Graph, Status

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
FLOWS = 12
WORKERS = 4
"""Steps each replica runs at once."""
STEP_SECONDS = 1.0
"""How long each step works (a stand-in for a call to some service)."""
REPLICA_TIMEOUT = 3.0
"""Seconds of silent heartbeats after which a replica counts as dead (the minimum)."""

TASKS = ("fetch", "resize", "publish")

graph = Graph("thumbnail")
graph.add_transition_chain(*TASKS, END)
graph.validate()


def replica_registry(replica: str) -> Registry:
    """The graph, and handlers that announce each step on stdout and record ``replica``."""
    registry = Registry()
    registry.handle_graph("thumbnail", graph)
    for task in TASKS:

        async def work(flow: Flow, task: str = task) -> None:
            print(f"running {flow.step_key}", flush=True)
            await asyncio.sleep(STEP_SECONDS)
            flow.set_string(f"{task}_by", replica)

        registry.handle_task(task, work)
    return registry


def engine_on(dsn: str, registry: Registry) -> Engine:
    """An engine on the shared database, signalling its peers through it."""
    return (
        dwarf.new_engine()
        .with_dsn(dsn)
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
        .with_replica_timeout(REPLICA_TIMEOUT)
        .with_database_signals()
    )


async def serve_replica(name: str, dsn: str) -> None:
    """Run steps as replica ``name`` until SIGTERM (or until killed)."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with engine_on(dsn, replica_registry(name)).with_workers(WORKERS):
        await stop.wait()


class Replica:
    """A replica process, and the keys of the steps it announced starting."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        """Wrap ``process`` (started with its stdout piped)."""
        self.name = name
        self.process = process
        self.started: set[str] = set()
        self._progress = asyncio.Condition()
        self._exited = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, dsn: str) -> Replica:
        """Start replica ``name`` on ``dsn`` as a child process running this file."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "replica", name, dsn, stdout=asyncio.subprocess.PIPE
        )
        return cls(name, process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            async with self._progress:
                self.started.add(line.decode().split()[-1])
                self._progress.notify_all()
        async with self._progress:
            self._exited = True
            self._progress.notify_all()

    async def wait_until_started(self, steps: int) -> None:
        """Wait until the replica has started ``steps`` steps; raise if it exits first."""
        async with self._progress:
            await self._progress.wait_for(lambda: len(self.started) >= steps or self._exited)
        if len(self.started) < steps:
            raise RuntimeError(f"replica {self.name} exited with {self.process.returncode}")

    async def stop(self, sig: signal.Signals) -> None:
        """Send ``sig`` (SIGTERM shuts down cleanly, SIGKILL is a crash) and reap the process."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        await self.process.wait()
        await self._reader


async def main(dsn: str) -> None:
    # This engine creates and awaits flows but runs no step (its handlers are never called);
    # its startup migrates the database before the replicas start.
    async with engine_on(dsn, replica_registry("main")).with_workers(0) as engine:
        a, b = [await Replica.start(name, dsn) for name in ("a", "b")]
        try:
            keys = [await engine.create("thumbnail", {"image": f"{n}.png"}) for n in range(FLOWS)]
            for key in keys:
                await engine.start(key)
            print(f"started {FLOWS} flows on replicas a and b")
            # A replica with WORKERS slots that started one step more has finished one, and it
            # is busy with the others.
            await asyncio.wait_for(a.wait_until_started(WORKERS + 1), timeout=60)
            await a.stop(signal.SIGKILL)
            print("killed replica a")
            outcomes = [await engine.await_flow(key, timeout=120) for key in keys]
        finally:
            await a.stop(signal.SIGKILL)
            await b.stop(signal.SIGTERM)
    completed = sum(outcome.status is Status.COMPLETED for outcome in outcomes)
    print(f"completed: {completed} of {FLOWS} flows")
    ran = Counter(outcome.state.get(f"{task}_by") for outcome in outcomes for task in TASKS)
    lost_by_a = len(a.started) - ran["a"]
    print(f"replica a ran {ran['a']} steps before it was killed")
    print(f"replica b ran {ran['b']} steps, {lost_by_a} of them taken over from replica a")


if __name__ == "__main__":
    match sys.argv[1:]:
        case []:
            asyncio.run(main(DEFAULT_DSN))
        case [dsn]:
            asyncio.run(main(dsn))
        case ["replica", name, dsn]:
            asyncio.run(serve_replica(name, dsn))
        case _:
            sys.exit(__doc__)
