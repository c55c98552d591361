"""How-to "interrupts and breakpoints": a flow waiting for a human, resumed with input; a
breakpoint set, hit and released with an override; interrupts in fan-out branches, run on SQLite
in memory and printed (tests/docs/test_howto_a.py)."""

import asyncio

import dwarf
from dwarf.engine import Registry
from dwarf.errors import ConflictError
from dwarf.workflow import END, Flow, Graph, Reducer, Status

registry = Registry()

# --8<-- [start:graph]
expense = Graph("expense")
expense.add_transition_chain("submit", "approve", "pay", END)
registry.handle_graph("expense", expense)


@registry.task("submit")
async def submit(flow: Flow) -> None:
    flow.set_string("status", "submitted")


@registry.task("approve")
async def approve(flow: Flow) -> None:
    flow.set_string("status", "awaiting approval")  # kept: writes before interrupt() persist
    # First run: parks the flow and raises Yield (let it propagate). After resume: the task
    # runs again from the top and interrupt() returns the resume data.
    answer = flow.interrupt({"amount": flow.get_int("amount"), "question": "approve?"})
    flow.set_bool("approved", bool(answer["approved"]))
    flow.set_string("approver", str(answer["by"]))


@registry.task("pay")
async def pay(flow: Flow) -> None:
    flow.set_string("status", "paid" if flow.get_bool("approved") else "rejected")


# --8<-- [end:graph]

# --8<-- [start:branches]
team = Graph("team_vote")
team.add_task("ballot", "ballot")
team.add_transition_for_each("ballot", "vote", "voters", as_="voter")
team.add_transition("vote", "count")
team.set_fan_in("count")
team.add_transition("count", END)
team.set_reducer("yes", Reducer.ADD)
registry.handle_graph("team_vote", team)


@registry.task("ballot")
async def ballot(flow: Flow) -> None:
    """The voters are in the input."""


@registry.task("vote")
async def vote(flow: Flow) -> None:
    answer = flow.interrupt({"voter": flow.get_string("voter")})
    flow.set_int("yes", 1 if answer["yes"] else 0)


@registry.task("count")
async def count(flow: Flow) -> None:
    # voterCount is gone here: the fan-in drops the forEach bindings
    flow.set_string("result", f"{flow.get_int('yes')} of {len(flow.get_strings('voters'))}")


# --8<-- [end:branches]


async def main() -> None:
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with eng.run_in_test():
        # --8<-- [start:run]
        out = await eng.run("expense", {"amount": 120})  # returns once the flow is interrupted
        print("stopped", out.status.value, out.interrupt_payload, out.state["status"])
        key = out.flow_key

        # Later, perhaps in another process: look at the flow, then answer.
        now = await eng.snapshot(key)
        print("snapshot", now.status.value, now.interrupt_payload["question"])
        print("history", [(s.task_name, s.status.value) for s in await eng.history(key)])

        await eng.resume(key, {"approved": True, "by": "ada"})
        done = await eng.await_flow(key)
        print("resumed", done.status.value, done.state["status"], done.state["approver"])
        # --8<-- [end:run]

        # --8<-- [start:breakpoint]
        key = await eng.create("expense", {"amount": 99_999})  # created, not started yet
        await eng.break_before(key, "approve", True)  # a task name, or a task URL
        await eng.start(key)
        paused = await eng.await_flow(key)
        print("paused", paused.status.value, paused.interrupt_payload, paused.state["amount"])
        try:
            await eng.resume(key, {})
        except ConflictError as error:
            print("resume refused:", error)
        await eng.break_before(key, "approve", False)  # clear it (this pause stays)
        await eng.resume_break(key, {"amount": 120})  # the task runs with the overridden input
        asked = await eng.await_flow(key)  # now 'approve' itself interrupts
        print("asked", asked.status.value, asked.interrupt_payload)
        await eng.resume(key, {"approved": False, "by": "bob"})
        print("ended", (await eng.await_flow(key)).state["status"])
        # --8<-- [end:breakpoint]

        # --8<-- [start:run-branches]
        out = await eng.run("team_vote", {"voters": ["ada", "bob", "cy"]})
        voters_asked = []
        while out.status is Status.INTERRUPTED:  # one resume releases one waiting branch
            voter = out.interrupt_payload["voter"]  # the branch the next resume releases
            voters_asked.append(voter)
            await eng.resume(out.flow_key, {"yes": voter != "bob"})
            out = await eng.await_flow(out.flow_key)
            print("after a resume:", out.status.value)
        print("vote", sorted(voters_asked), out.state["result"])
        # --8<-- [end:run-branches]


asyncio.run(main())
