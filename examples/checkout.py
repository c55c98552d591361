"""An order checkout that waits for a human and is finished later by another process.

It shows a flaky call retried with backoff (``flow.retry``), a human approval
(``flow.interrupt`` and ``Engine.resume``), and a flow outliving the process that started it:
every step is checkpointed in a SQLite file, so a new process picks the flow up where it stopped.

    reserve -> charge -> approve -> ship    (approved)
                                 -> refund  (rejected)

Run it as two processes on the same file:

    python examples/checkout.py orders.sqlite start            # runs until the approval, exits
    python examples/checkout.py orders.sqlite approve FLOW_ID  # a new process resumes and ships
    python examples/checkout.py orders.sqlite reject FLOW_ID   # ... or refunds instead
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.errors import ConflictError, NotFoundError
from dwarf.workflow import END, Flow, Graph

registry = Registry()

graph = Graph("checkout")
graph.add_task("reserve", "reserve")
graph.add_task("charge", "charge")
graph.add_task("approve", "approve")
graph.add_task("ship", "ship")
graph.add_task("refund", "refund")
graph.add_transition_chain("reserve", "charge", "approve")
graph.add_transition_switch("approve", "ship", "approved == true")
graph.add_transition_switch("approve", "refund", "true")
graph.add_transition("ship", END)
graph.add_transition("refund", END)
graph.validate()
registry.handle_graph("checkout", graph)


class GatewayTimeout(Exception):
    """The payment gateway did not answer in time."""


class FlakyGateway:
    """A fake payment gateway: the first ``failures`` calls for each payment time out."""

    def __init__(self, failures: int) -> None:
        self._failures = failures
        self._calls: Counter[str] = Counter()

    def charge(self, idempotency_key: str, order: str, amount_cents: int) -> str:
        """Charge ``amount_cents`` for ``order``; return the receipt number."""
        self._calls[idempotency_key] += 1
        if self._calls[idempotency_key] <= self._failures:
            raise GatewayTimeout(f"no answer charging {amount_cents} cents for {order}")
        return f"receipt-{order}"


gateway = FlakyGateway(failures=2)


@registry.task("reserve")
async def reserve(flow: Flow) -> None:
    """Hold the ordered stock (faked: records what was held)."""
    flow.set_string("reservation", f"{flow.get_int('quantity')} x {flow.get_string('sku')}")


@registry.task("charge")
async def charge(flow: Flow) -> None:
    """Charge the customer, retrying the gateway's timeouts with backoff."""
    try:
        # The step key is the same on every retry of this step: a real gateway's idempotency key.
        receipt = gateway.charge(
            flow.step_key, flow.get_string("order"), flow.get_int("amount_cents")
        )
    except GatewayTimeout:
        if flow.retry(4, 0.2, 2.0, 2.0):  # up to four retries, 0.2 s, 0.4 s, 0.8 s ... apart
            return
        raise  # every retry timed out too: the flow fails with this error
    flow.set_string("receipt", receipt)
    flow.set_int("charge_attempts", flow.attempt + 1)


@registry.task("approve")
async def approve(flow: Flow) -> None:
    """Wait for a person to approve or reject the order; record the decision."""
    # The first run parks the flow here; after Engine.resume the task runs again and
    # interrupt() returns the resume data instead.
    decision = flow.interrupt(
        {"order": flow.get_string("order"), "amount_cents": flow.get_int("amount_cents")}
    )
    flow.set_bool("approved", decision["approved"])
    flow.set_string("approver", decision["approver"])


@registry.task("ship")
async def ship(flow: Flow) -> None:
    """Hand the order to the carrier (faked: records a tracking number)."""
    flow.set_string("tracking", f"track-{flow.get_string('order')}")


@registry.task("refund")
async def refund(flow: Flow) -> None:
    """Refund a rejected order's charge (faked: records the refunded receipt)."""
    flow.set_string("refunded", flow.get_string("receipt"))


async def start(engine: Engine) -> None:
    """Run a new checkout until it waits for approval."""
    order = {"order": "A-1001", "sku": "mug", "quantity": 2, "amount_cents": 3000}
    outcome = await engine.run("checkout", order, timeout=30)
    print(f"flow: {outcome.flow_key}")
    print(f"status: {outcome.status}")
    print(f"charge attempts: {outcome.state['charge_attempts']}")
    print(f"waiting for approval of: {outcome.interrupt_payload}")


async def decide(engine: Engine, flow_key: str, approved: bool) -> None:
    """Resume the checkout with the approver's decision and print how it ended."""
    try:
        await engine.resume(flow_key, {"approved": approved, "approver": "dana"})
    except (NotFoundError, ConflictError) as error:  # a mistyped id, or already decided
        sys.exit(f"cannot resume {flow_key}: {error}")
    outcome = await engine.await_flow(flow_key, timeout=30)
    print(f"status: {outcome.status}")
    for field, value in sorted(outcome.state.items()):
        print(f"  {field}: {value}")
    print("steps, including those the first process ran:")
    for step in await engine.history(flow_key):
        print(f"  {step.task_name}: {step.status} after {step.attempt + 1} run(s)")


async def main(database: Path, command: str, flow_key: str) -> None:
    """Open the engine on ``database`` and run one command."""
    engine = (
        dwarf.new_engine()
        .with_dsn(f"sqlite:///{database}")
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with engine:
        if command == "start":
            await start(engine)
        else:
            await decide(engine, flow_key, approved=command == "approve")


if __name__ == "__main__":
    match sys.argv[1:]:
        case [database, "start"]:
            asyncio.run(main(Path(database), "start", ""))
        case [database, ("approve" | "reject") as command, flow_key]:
            asyncio.run(main(Path(database), command, flow_key))
        case _:
            sys.exit(__doc__)
