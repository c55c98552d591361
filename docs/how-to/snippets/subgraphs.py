"""How-to "subgraphs": a graph called from a task like a function, a child's failure caught and
uncaught, an interrupt inside a child, and cancelling a tree, run on SQLite in memory and printed
(tests/docs/test_howto_a.py)."""

import asyncio

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph, SubgraphFailedError

registry = Registry()
caller_runs: list[int] = []


def chain(name: str, *tasks: str) -> None:
    """Register workflow ``name`` as ``tasks`` one after the other, then END."""
    graph = Graph(name)
    graph.add_transition_chain(*tasks, END)
    registry.handle_graph(name, graph)


# --8<-- [start:child]
chain("tax", "rate", "apply")  # the child: an ordinary workflow


@registry.task("rate")
async def rate(flow: Flow) -> None:
    if flow.get_string("country") not in ("FR", "DE"):
        raise LookupError(f"no tax rate for {flow.get_string('country')!r}")
    flow.set_int("percent", 20 if flow.get_string("country") == "FR" else 19)


@registry.task("apply")
async def apply(flow: Flow) -> None:
    flow.set_int("tax", flow.get_int("net") * flow.get_int("percent") // 100)


# --8<-- [end:child]


# --8<-- [start:caller]
chain("invoice", "price", "send")


@registry.task("price")
async def price(flow: Flow) -> None:
    caller_runs.append(flow.attempt)
    # Only this input becomes the child's state; the first call parks this step and raises
    # Yield (a BaseException: `except Exception` does not catch it). When the child has
    # finished, the task runs again from the top and the call returns the child's final state.
    try:
        child = flow.subgraph("tax", {"net": flow.get_int("net"), "country": flow.get_string("to")})
    except SubgraphFailedError as error:
        if not flow.get_bool("tolerate"):
            raise  # the caller fails like any task: onError, or the flow fails
        flow.set_string("tax_error", str(error))
        return
    flow.set_int("total", flow.get_int("net") + child["tax"])  # keep what you need


@registry.task("send")
async def send(flow: Flow) -> None:
    flow.set_bool("sent", True)


# --8<-- [end:caller]


# --8<-- [start:interrupt]
chain("sign", "signature")  # a child that waits for a human
chain("contract", "get_signed", "file")


@registry.task("signature")
async def signature(flow: Flow) -> None:
    answer = flow.interrupt({"sign": flow.get_string("doc")})
    flow.set_string("signed_by", str(answer["name"]))


@registry.task("get_signed")
async def get_signed(flow: Flow) -> None:
    flow.set("signed", flow.subgraph("sign", {"doc": "lease.pdf"})["signed_by"])


@registry.task("file")
async def file(flow: Flow) -> None:
    flow.set_bool("filed", True)


# --8<-- [end:interrupt]


async def main() -> None:
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with eng.run_in_test():
        # --8<-- [start:run]
        out = await eng.run("invoice", {"net": 100, "to": "FR"})
        print("invoice", out.status.value, out.state["total"], "percent" in out.state)
        print("caller runs, attempt of each:", caller_runs)  # a re-entry is not a retry
        caller = (await eng.history(out.flow_key))[0]
        print(
            "history",
            caller.task_name,
            caller.sub_workflow_name,
            [step.task_name for step in caller.sub_history],
        )
        # --8<-- [end:run]
        # --8<-- [start:run-failure]
        out = await eng.run("invoice", {"net": 100, "to": "XX", "tolerate": True})
        print("caught", out.status.value, out.state["tax_error"], out.state["sent"])
        out = await eng.run("invoice", {"net": 100, "to": "XX"})
        print("uncaught", out.status.value, out.error_type, out.error)
        # --8<-- [end:run-failure]
        # --8<-- [start:run-interrupt]
        out = await eng.run("contract")  # the child's interrupt stops the root
        print("contract", out.status.value, out.interrupt_payload)
        await eng.resume(out.flow_key, {"name": "ada"})  # always through the root's key
        print("signed", (await eng.await_flow(out.flow_key)).state["signed"])
        # --8<-- [end:run-interrupt]
        # --8<-- [start:run-cancel]
        out = await eng.run("contract")
        await eng.cancel(out.flow_key, "customer walked away")  # takes the whole tree
        out = await eng.snapshot(out.flow_key)
        caller = (await eng.history(out.flow_key))[0]
        print(
            "cancel",
            out.status.value,
            out.cancel_reason,
            [step.status.value for step in caller.sub_history],
        )
        # --8<-- [end:run-cancel]


asyncio.run(main())
