"""Tutorial step 4: a refund waits for a person's approval, resumed later by another process.

Run:
    python examples/tutorial/step4_human_approval.py refunds.sqlite start 250
    python examples/tutorial/step4_human_approval.py refunds.sqlite resume FLOW_KEY ada

``start`` runs a refund until ``approve`` interrupts it and prints the flow's key; the process
may then exit. ``resume`` (any time later, from any process) hands the decision to the waiting
task and prints how the refund ended.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.workflow import END, Flow, Graph, Status

# --8<-- [start:graph]
registry = Registry()

graph = Graph("refund")
graph.add_task("check", "check")
graph.add_task("approve", "approve")
graph.add_task("pay", "pay")
graph.add_transition_switch("check", "approve", "amount > 100")  # first match wins
graph.add_transition_switch("check", "pay", "true")
graph.add_transition("approve", "pay")
graph.add_transition("pay", END)
graph.validate()
registry.handle_graph("refund", graph)
# --8<-- [end:graph]


# --8<-- [start:tasks]
@registry.task("check")
async def check(flow: Flow) -> None:
    flow.set_string("reason", "damaged in transit")


@registry.task("approve")
async def approve(flow: Flow) -> None:
    # The first run parks the flow here; after resume the task runs again and gets the data.
    decision = flow.interrupt({"question": f"refund {flow.get_int('amount')} EUR?"})
    flow.set_string("approved_by", decision["by"])


@registry.task("pay")
async def pay(flow: Flow) -> None:
    flow.set_string("paid", f"{flow.get_int('amount')} EUR")


# --8<-- [end:tasks]


# --8<-- [start:main]
def refund_engine(path: Path) -> Engine:
    """An engine on the SQLite file ``path`` that runs the refund workflow's tasks."""
    return (
        dwarf.new_engine()
        .with_dsn(f"sqlite:///{path}")
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )


async def start(path: Path, amount: int) -> None:
    async with refund_engine(path) as engine:
        outcome = await engine.run("refund", {"amount": amount}, timeout=30)
        print(f"status:  {outcome.status}")
        if outcome.status == Status.INTERRUPTED:  # run returns when the flow parks
            print(f"asks:    {outcome.interrupt_payload['question']}")
            print(f"flow:    {outcome.flow_key}")
        else:  # a small refund needs no approval
            print(f"paid:    {outcome.state['paid']}")


async def resume(path: Path, flow_key: str, approver: str) -> None:
    async with refund_engine(path) as engine:
        await engine.resume(flow_key, {"by": approver})
        outcome = await engine.await_flow(flow_key, timeout=30)
        print(f"status:  {outcome.status}")
        print(f"paid:    {outcome.state['paid']}, approved by {outcome.state['approved_by']}")


if __name__ == "__main__":
    database, command, *args = sys.argv[1:]
    if command == "start":
        asyncio.run(start(Path(database), int(args[0])))
    else:
        asyncio.run(resume(Path(database), args[0], args[1]))
# --8<-- [end:main]
