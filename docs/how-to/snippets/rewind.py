"""Restart, restart from a step, and fork: three ways to run a stopped flow again.

The how-to guide docs/how-to/restart-fork-continue.md includes its sections; the docs test runs it
and checks what it prints.
"""

import asyncio
from collections import Counter

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.errors import ConflictError
from dwarf.workflow import END, Flow, Graph

# --8<-- [start:graph]
registry = Registry()
runs: Counter[str] = Counter()  # how many times each task ran, across every flow

g = Graph("report")
g.add_task("fetch", "fetch")
g.add_task("summarize", "summarize")
g.add_task("publish", "publish")
g.add_transition_chain("fetch", "summarize", "publish", END)
registry.handle_graph("report", g)


@registry.task("fetch")
async def fetch(flow: Flow) -> None:
    runs["fetch"] += 1
    flow.set_string("text", "durable workflows checkpoint every step to SQL")


@registry.task("summarize")
async def summarize(flow: Flow) -> None:
    runs["summarize"] += 1
    limit = flow.get_int("max_words")
    if limit < 3:
        raise ValueError(f"max_words={limit} is too short for a summary")
    flow.set_string("summary", " ".join(flow.get_string("text").split()[:limit]))


@registry.task("publish")
async def publish(flow: Flow) -> None:
    runs["publish"] += 1
    flow.set_bool("published", True)


# --8<-- [end:graph]


# --8<-- [start:step_key]
async def step_key(eng: Engine, flow_key: str, task: str) -> str:
    """The key of ``task``'s step in the flow's history (the last one when it ran twice)."""
    return [s.step_key for s in await eng.history(flow_key) if s.task_name == task][-1]


# --8<-- [end:step_key]


async def main() -> None:
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with eng.run_in_test():
        # --8<-- [start:failed]
        out = await eng.run("report", {"max_words": 2})
        print(out.status, "-", out.error)  # failed - max_words=2 is too short for a summary
        # --8<-- [end:failed]

        # --8<-- [start:restart]
        await eng.restart(out.flow_key, {"max_words": 3})
        again = await eng.await_flow(out.flow_key)
        print(again.status, again.state["summary"], dict(runs))
        # completed durable workflows checkpoint {'fetch': 2, 'summarize': 2, 'publish': 1}
        # --8<-- [end:restart]

        # --8<-- [start:restart_from]
        runs.clear()
        await eng.restart_from(await step_key(eng, out.flow_key, "summarize"), {"max_words": 4})
        again = await eng.await_flow(out.flow_key)
        print(again.state["summary"], dict(runs))
        # durable workflows checkpoint every {'summarize': 1, 'publish': 1}
        # --8<-- [end:restart_from]

        # --8<-- [start:history]
        print([(s.task_name, s.status.value) for s in await eng.history(out.flow_key)])
        # [('fetch', 'completed'), ('summarize', 'completed'), ('publish', 'completed')]
        # --8<-- [end:history]

        # --8<-- [start:fork]
        runs.clear()
        fork_key = await eng.fork(await step_key(eng, out.flow_key, "summarize"), {"max_words": 1})
        forked = await eng.await_flow(fork_key)
        origin = await eng.snapshot(out.flow_key)
        print(forked.status, "-", forked.error)  # failed - max_words=1 is too short for a summary
        print(origin.status, origin.state["summary"], dict(runs))
        # completed durable workflows checkpoint every {'summarize': 1}
        # --8<-- [end:fork]

        # --8<-- [start:conflict]
        waiting = await eng.create("report", {"max_words": 5})  # created, never started
        try:
            await eng.restart(waiting)
        except ConflictError as exc:
            print(exc.status_code, exc)  # 409 flow is created: only a stopped flow can be restarted
        # --8<-- [end:conflict]


asyncio.run(main())
