"""How-to "graphs and routing": switch, when fan-out, error route, goto loop, validation, strict
routing and Mermaid, each run on SQLite in memory and printed (tests/docs/test_howto_a.py)."""

import asyncio

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, Graph, Reducer

registry = Registry()

# --8<-- [start:switch]
review = Graph("review")
review.add_task("score", "score")
review.add_task("approve", "approve")
review.add_task("manual", "manual")
review.add_task("reject", "reject")
review.add_transition("score", "route")  # an implicit task: its URL is its name
review.add_transition_switch("route", "approve", "score >= 80")
review.add_transition_switch("route", "manual", "score >= 50")  # tried only if the first missed
review.add_transition_switch("route", "reject", "true")  # the default arm
review.add_transition_chain("approve", END)
review.add_transition_chain("manual", END)
review.add_transition_chain("reject", END)
registry.handle_graph("review", review)
# --8<-- [end:switch]

# --8<-- [start:when]
notify = Graph("notify")
notify.add_task("check", "check")
notify.add_transition_when("check", "email", "channels.email")  # membership: 'email' in list
notify.add_transition_when("check", "sms", "channels.sms && phone != null")
notify.add_transition("email", "sent")
notify.add_transition("sms", "sent")
notify.set_fan_in("sent")  # every `when` that holds runs, so the branches must converge
notify.add_transition("sent", END)
notify.set_reducer("sent_by", Reducer.APPEND)  # each branch adds to the list
registry.handle_graph("notify", notify)
# --8<-- [end:when]

# --8<-- [start:on-error]
charge = Graph("charge")
charge.add_task("charge", "charge")
charge.add_transition("charge", "receipt")
charge.add_transition_on_error("charge", "refund")  # taken on any exception from 'charge'
charge.add_transition("receipt", END)
charge.add_transition("refund", END)
registry.handle_graph("charge", charge)
# --8<-- [end:on-error]

# --8<-- [start:goto]
poll = Graph("poll")
poll.add_task("ask", "ask")
poll.add_transition_goto("ask", "ask")  # taken only when 'ask' calls flow.goto("ask")
poll.add_transition("ask", END)  # the normal way out
registry.handle_graph("poll", poll)
# --8<-- [end:goto]


# --8<-- [start:strict]
def shipping(strict: bool) -> Graph:
    """'ship' goes on only once the order is paid; otherwise no transition matches."""
    g = Graph("ship_strict" if strict else "ship")
    g.add_task("ship", "ship")
    g.add_transition_when("ship", "label", "status == 'paid'")
    g.add_transition("label", END)
    g.set_strict_routing(strict)
    return g


registry.handle_graph("ship", shipping(strict=False))
registry.handle_graph("ship_strict", shipping(strict=True))
# --8<-- [end:strict]


# --8<-- [start:switch-tasks]
@registry.task("score")
async def score(flow: Flow) -> None:
    flow.set_int("score", flow.get_int("points") * 10)


@registry.task("route")
async def route(flow: Flow) -> None:
    """A router does no work: its switch edges pick the next task."""


@registry.task("approve")
@registry.task("manual")
@registry.task("reject")
async def decide(flow: Flow) -> None:
    flow.set_string("decision", "decided")


# --8<-- [end:switch-tasks]


# --8<-- [start:when-tasks]
@registry.task("check")
async def check(flow: Flow) -> None:
    flow.set_strings("channels", flow.get_strings("wanted"))


@registry.task("email")
async def send_email(flow: Flow) -> None:
    flow.set("sent_by", ["email"])  # the increment: the reducer appends it at the fan-in


@registry.task("sms")
async def send_sms(flow: Flow) -> None:
    flow.set("sent_by", ["sms"])


@registry.task("sent")
async def sent(flow: Flow) -> None:
    flow.set_int("messages", len(flow.get_strings("sent_by")))


# --8<-- [end:when-tasks]


# --8<-- [start:on-error-tasks]
@registry.task("charge")
async def charge_card(flow: Flow) -> None:
    flow.set_string("charged", "yes")  # discarded: an error voids the task's writes
    raise ConnectionError("gateway unreachable")


@registry.task("receipt")
async def receipt(flow: Flow) -> None:
    flow.set_string("result", "receipt sent")


@registry.task("refund")
async def refund(flow: Flow) -> None:
    error = flow.get("onErr", dict)
    flow.set_string("result", f"refunded after {error['errorType']}: {error['error']}")


# --8<-- [end:on-error-tasks]


@registry.task("ship")
@registry.task("label")
async def nothing(flow: Flow) -> None:
    """These tasks only route."""


# --8<-- [start:goto-task]
@registry.task("ask")
async def ask(flow: Flow) -> None:
    tries = flow.get_int("tries") + 1  # 0 when absent
    flow.set_int("tries", tries)
    if tries < 3:
        flow.goto("ask")


# --8<-- [end:goto-task]


async def route_taken(eng: Engine, name: str, state: dict[str, object]) -> list[str]:
    """Run ``name`` and list the tasks its steps ran, in execution order."""
    out = await eng.run(name, state)
    return [step.task_name for step in await eng.history(out.flow_key)]


async def main() -> None:
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with eng.run_in_test():
        for points in (9, 6, 2):
            print("switch", points, await route_taken(eng, "review", {"points": points}))
        # --8<-- [start:run-when]
        both = await eng.run("notify", {"wanted": ["email", "sms"], "phone": "+4412345"})
        print("when both", both.state["sent_by"], both.state["messages"])
        one = await eng.run("notify", {"wanted": ["email", "sms"]})  # no phone: no sms
        print("when one", one.state["sent_by"], one.state["messages"])
        # --8<-- [end:run-when]
        out = await eng.run("charge")
        print("on-error", out.status.value, out.state["result"], "charged" in out.state)
        print("goto", await route_taken(eng, "poll", {}))
        # --8<-- [start:run-strict]
        lenient = await eng.run("ship", {"status": "pending"})
        print("dead end", lenient.status.value, (await eng.history(lenient.flow_key))[0].note)
        strict = await eng.run("ship_strict", {"status": "pending"})
        print("strict", strict.status.value, strict.error)
        # --8<-- [end:run-strict]
    validate_examples()


def validate_examples() -> None:
    """Print what ``validate()`` says about two broken graphs, and a graph's Mermaid text."""
    # --8<-- [start:validate]
    typo = Graph("typo")
    typo.add_task("fetch", "fetch")
    typo.add_task("store", "store")
    typo.add_transition("fetch", "stor")  # misspelt: 'stor' would be a new task
    typo.add_transition("store", END)
    try:
        typo.validate()
    except BadRequestError as error:
        print("validate:", error)
    # --8<-- [end:validate]
    # --8<-- [start:if-else]
    if_else = Graph("if_else")
    if_else.add_task("check", "check")
    if_else.add_transition_when("check", "yes", "ok")
    if_else.add_transition_when("check", "no", "!ok")  # meant as 'else': wrong, see below
    if_else.add_transition("yes", END)
    if_else.add_transition("no", END)
    try:
        if_else.validate()
    except BadRequestError as error:
        print("validate:", error)
    # --8<-- [end:if-else]
    # --8<-- [start:mermaid]
    print(review.mermaid())
    # --8<-- [end:mermaid]


asyncio.run(main())
