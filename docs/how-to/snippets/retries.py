"""How-to "retries and time budgets": retry counting and backoff, retries spent, a durable
sleep and a time budget, run on SQLite in memory and printed (tests/docs/test_howto_a.py)."""

import asyncio
import itertools
import time

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, FlowOptions, Graph

registry = Registry()
for name in ("charge", "fetch", "nap", "slow"):
    graph = Graph(name)
    graph.add_transition_chain(name, "after", END)
    registry.handle_graph(name, graph)

runs: list[tuple[int, float]] = []  # (attempt, monotonic time) of each run of 'charge'
fetch_runs: list[int] = []  # the attempt of each run of 'fetch'
CLOCK_SLACK = 0.01  # the database clock that schedules the next run keeps milliseconds


class GatewayTimeout(Exception):
    """The payment gateway did not answer."""


# --8<-- [start:retry]
@registry.task("charge")
async def charge(flow: Flow) -> None:
    runs.append((flow.attempt, time.monotonic()))  # flow.attempt: 0 on the first run
    try:
        if flow.attempt < flow.get_int("fail_runs"):
            raise GatewayTimeout(f"no answer on run {flow.attempt + 1}")
    except GatewayTimeout:
        # 3 retries after the first run; waits of 0.1 s, 0.2 s, 0.4 s (capped at 1 s)
        if flow.retry(3, 0.1, 2.0, 1.0):
            return  # the step runs again after the backoff
        raise  # retries spent: this error fails the step (or takes its onError edge)
    flow.set_int("charged_on_run", flow.attempt + 1)


# --8<-- [end:retry]


# --8<-- [start:give-up]
@registry.task("fetch")
async def fetch(flow: Flow) -> None:
    fetch_runs.append(flow.attempt)
    # up to 100 retries 0.1 s apart, but none starting 0.5 s or more after the step was created
    if flow.retry(100, 0.1, 1.0, 0, give_up_after=0.5):
        return
    raise TimeoutError(f"still failing after {flow.attempt + 1} runs")


# --8<-- [end:give-up]


# --8<-- [start:sleep]
@registry.task("nap")
async def nap(flow: Flow) -> None:
    flow.set("napped_at", time.time())
    flow.sleep(0.5)  # the next step is not dispatched before 0.5 s from now


# --8<-- [end:sleep]


@registry.task("after")
async def after(flow: Flow) -> None:
    flow.set("after_at", time.time())


# --8<-- [start:budget]
@registry.task("slow")
async def slow(flow: Flow) -> None:
    await asyncio.sleep(5)  # cancelled when the step's time budget runs out


# --8<-- [end:budget]


async def main() -> None:
    # --8<-- [start:engine]
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
        .with_time_budget(30)  # this replica's default budget for a task call (default 2 min)
    )
    # --8<-- [end:engine]
    async with eng.run_in_test():
        # --8<-- [start:run-retry]
        out = await eng.run("charge", {"fail_runs": 2})
        gaps = [later[1] - earlier[1] for earlier, later in itertools.pairwise(runs)]
        backoffs = (0.1, 0.2)
        waited = [gap >= wait - CLOCK_SLACK for gap, wait in zip(gaps, backoffs, strict=True)]
        print("recovered", out.status.value, out.state["charged_on_run"], waited)

        runs.clear()
        out = await eng.run("charge", {"fail_runs": 10})
        print("spent", out.status.value, len(runs), out.error_type, out.error)
        step = (await eng.history(out.flow_key))[0]
        print("history", step.task_name, step.attempt, step.status.value)
        # --8<-- [end:run-retry]
        out = await eng.run("fetch")
        print("gave up", out.status.value, out.error_type, 1 < len(fetch_runs) < 101)
        out = await eng.run("nap")
        print("slept", out.state["after_at"] - out.state["napped_at"] >= 0.5 - CLOCK_SLACK)
        # --8<-- [start:run-budget]
        out = await eng.run("slow", options=FlowOptions(time_budget=0.2))
        print("budget", out.status.value, out.error_type, out.error)
        # --8<-- [end:run-budget]


asyncio.run(main())
