"""Two worker replicas and a front end sharing two PostgreSQL shards, signalling through them.

The how-to guide docs/how-to/replicas-and-sharding.md includes its sections. It needs a database
server: run it with ``DWARF_TEST_DSN=postgresql://user@host/db`` (a user allowed to create
databases); ``run_in_test`` then makes scratch databases there, shared by every engine entered
under the same name, and drops them at the end. The docs test runs it and checks what it prints.
"""

import asyncio
import uuid
from collections import Counter

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.workflow import END, Flow, Graph

registry = Registry()
g = Graph("resize")
g.add_task("resize", "resize")
g.add_transition("resize", END)
registry.handle_graph("resize", g)
ran_on: Counter[str] = Counter()  # steps each replica ran


# --8<-- [start:replica]
def replica(name: str, workers: int) -> Engine:
    """One replica; every replica of a deployment is configured the same way."""

    async def execute(url: str, flow: Flow) -> None:
        ran_on[name] += 1
        await asyncio.sleep(0.1)  # the work itself
        flow.set_string("by", name)

    return (
        dwarf.new_engine()
        .with_num_shards(2)  # fixed at startup; every replica must say the same
        .with_workers(workers)  # 0: this process only creates flows and reads them
        .with_replica_timeout(5)  # peers take a silent replica's steps after 5 s (the default)
        .with_database_signals()  # LISTEN/NOTIFY wakes the replicas: no message bus needed
        .with_graph_loader(registry.load_graph)
        .with_task_executor(execute)
    )


# --8<-- [end:replica]


async def main() -> None:
    # --8<-- [start:deployment]
    label = uuid.uuid4().hex  # engines entering run_in_test with one label share the databases
    front, a, b = replica("front", 0), replica("a", 1), replica("b", 1)
    async with front.run_in_test(label), a.run_in_test(label), b.run_in_test(label):
        keys = [await front.create("resize", {"image": i}) for i in range(20)]
        for key in keys:
            await front.start(key)
        outcomes = [await front.await_flow(key, timeout=60) for key in keys]
        print(len(outcomes), {o.status.value for o in outcomes})  # 20 {'completed'}
        print(sorted(ran_on), sum(ran_on.values()))  # ['a', 'b'] 20
        shards = await front.shard_info()
        print([(s.shard, s.error, s.flows > 0) for s in shards])  # [(1, '', True), (2, '', True)]
    # --8<-- [end:deployment]


asyncio.run(main())
