"""Continue a thread: each turn is a new flow that starts from the previous turn's final state.

The how-to guide docs/how-to/restart-fork-continue.md includes its sections; the docs test runs it
and checks what it prints.
"""

import asyncio

import dwarf
from dwarf.engine import Registry
from dwarf.errors import ConflictError
from dwarf.workflow import END, Flow, Graph, Query, Reducer

# --8<-- [start:graph]
registry = Registry()
g = Graph("chat")
g.add_task("reply", "reply")
g.add_transition("reply", END)
g.set_reducer("messages", Reducer.APPEND)  # a turn's new messages add to the old ones
registry.handle_graph("chat", g)


@registry.task("reply")
async def reply(flow: Flow) -> None:
    last = flow.get_strings("messages")[-1]
    flow.set_strings("messages", [f"echo: {last}"])


# --8<-- [end:graph]


async def main() -> None:
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with eng.run_in_test():
        # --8<-- [start:continue]
        first = await eng.run("chat", {"messages": ["hi"]})
        turn = await eng.continue_thread(first.flow_key, {"messages": ["how are you?"]})
        await eng.start(turn)  # continue_thread creates the turn; starting it is up to you
        second = await eng.await_flow(turn)
        print(second.state["messages"])
        # ['hi', 'echo: hi', 'how are you?', 'echo: how are you?']
        # --8<-- [end:continue]

        # --8<-- [start:thread]
        flows, _ = await eng.list_flows(Query(thread_key=first.flow_key))
        print(len(flows), {f.thread_key for f in flows} == {first.flow_key})  # 2 True
        # --8<-- [end:thread]

        # --8<-- [start:latest]
        turn = await eng.continue_thread(first.flow_key, {"messages": ["bye"]})  # any turn's key
        try:
            await eng.continue_thread(first.flow_key)
        except ConflictError as exc:
            print(exc)  # the thread's latest flow is created: only a completed flow can be ...
        await eng.start(turn)
        print((await eng.await_flow(turn)).state["messages"][-2:])  # ['bye', 'echo: bye']
        # --8<-- [end:latest]


asyncio.run(main())
