"""Priority bands, fairness keys and delayed starts, watched through a single worker.

The how-to guide docs/how-to/priority-and-fairness.md includes its sections; the docs test runs
it and checks what it prints. One worker is kept busy by a ``hold`` flow while the others queue,
so the order in which they then run is the engine's choice alone.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.workflow import END, Flow, FlowOptions, Graph

registry = Registry()
g = Graph("job")
g.add_task("work", "work")
g.add_transition("work", END)
registry.handle_graph("job", g)

ran: list[str] = []  # the tags of the flows in the order their task ran
holding = asyncio.Event()
release = asyncio.Event()


@registry.task("work")
async def work(flow: Flow) -> None:
    tag = flow.get_string("tag")
    if tag == "hold":
        holding.set()
        await release.wait()  # keeps the only worker busy until the queue is built
    else:
        ran.append(tag)


async def queue_behind_a_busy_worker(eng: Engine, flows: list[tuple[str, FlowOptions]]) -> None:
    """Occupy the worker, create and start ``flows`` in order, then let them all run."""
    ran.clear()
    holding.clear()
    release.clear()
    hold = await eng.create("job", {"tag": "hold"})
    await eng.start(hold)
    await holding.wait()
    keys = []
    for tag, options in flows:
        key = await eng.create("job", {"tag": tag}, options)
        await eng.start(key)
        keys.append(key)
    release.set()
    for key in [hold, *keys]:
        await eng.await_flow(key)


async def main() -> None:
    # --8<-- [start:engine]
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
        .with_workers(1)  # one step at a time, so the order shows
        .with_default_priority(100)  # flows created without a priority (100 is the default)
    )
    # --8<-- [end:engine]
    async with eng.run_in_test():
        # --8<-- [start:priority]
        await queue_behind_a_busy_worker(
            eng,
            [
                ("report", FlowOptions()),  # the engine's default priority: 100
                ("invoice", FlowOptions(priority=10)),
                ("alert", FlowOptions(priority=1)),
                ("refund", FlowOptions(priority=10)),
            ],
        )
        print(ran)  # ['alert', 'invoice', 'refund', 'report']
        # --8<-- [end:priority]

        # --8<-- [start:fairness]
        big = [(f"big-{i}", FlowOptions(fairness_key="tenant-big")) for i in range(20)]
        small = [
            (f"small-{i}", FlowOptions(fairness_key="tenant-small", fairness_weight=3))
            for i in range(5)
        ]
        await queue_behind_a_busy_worker(eng, big + small)  # every big flow is older
        last_small = max(ran.index(tag) for tag, _ in small)
        print(f"tenant-small was done after {last_small + 1} of {len(ran)} steps")
        # e.g. tenant-small was done after 7 of 25 steps (FIFO would take all 25)
        # --8<-- [end:fairness]

        # --8<-- [start:start_at]
        ran.clear()
        due = datetime.now(UTC) + timedelta(seconds=0.5)
        later = await eng.create("job", {"tag": "later"}, FlowOptions(start_at=due))
        await eng.start(later)
        early = await eng.poll(later, timeout=0.1)  # returns the outcome when time runs out
        print(early.status, ran)  # running []
        await eng.await_flow(later)
        print(ran, datetime.now(UTC) >= due)  # ['later'] True
        # --8<-- [end:start_at]


asyncio.run(main())
