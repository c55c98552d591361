"""An AI-agent loop: a model calls tools until it has an answer, then a human reviews it.

The model is faked by a fixed script of replies, so the program runs offline and prints the same
transcript every time. It shows a loop in a graph (``flow.goto`` back to the model after each
tool call), a flaky tool retried with backoff (``flow.retry``), and a human review
(``flow.interrupt``, answered with ``Engine.resume``), on a SQLite file in a temporary directory:

    think --(a tool call)--> act --(goto)--> think ...
    think --(an answer)----> review -> END

Run: python examples/agent_loop.py
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from typing import Any

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph

MAX_TOOL_CALLS = 5  # past this, the agent goes to review with what it has

registry = Registry()

graph = Graph("agent")
graph.add_task("think", "think")
graph.add_task("act", "act")
graph.add_task("review", "review")
graph.add_transition_switch("think", "act", "tool != null")
graph.add_transition_switch("think", "review", "true")
graph.add_transition_goto("act", "think")
graph.add_transition("act", "review")
graph.add_transition("review", END)
graph.validate()
registry.handle_graph("agent", graph)

# The fake model's replies, one per turn: a tool call, or "done" with the final answer.
SCRIPT: list[dict[str, Any]] = [
    {"tool": "forecast", "input": "Lisbon"},
    {"tool": "forecast", "input": "Oslo"},
    {"done": "sunglasses for Lisbon; a raincoat and a warm layer for Oslo"},
]
FORECASTS = {"Lisbon": "sunny, 24 C", "Oslo": "rain, 6 C"}


class ToolTimeout(Exception):
    """The tool's backend did not answer in time."""


class FlakyForecast:
    """A fake weather service that times out on the first call for each request."""

    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()

    def __call__(self, request_key: str, city: str) -> str:
        self._calls[request_key] += 1
        if self._calls[request_key] == 1:
            raise ToolTimeout(f"the forecast for {city} timed out")
        return FORECASTS[city]


TOOLS = {"forecast": FlakyForecast()}


def say(flow: Flow, line: str) -> None:
    """Append ``line`` to the flow's transcript."""
    flow.set_strings("transcript", [*flow.get_strings("transcript"), line])


@registry.task("think")
async def think(flow: Flow) -> None:
    """Ask the model for its next move: a tool call, or the final answer."""
    turn = flow.get_int("turns")
    reply = SCRIPT[turn]  # a real agent would send the transcript to its model here
    flow.set_int("turns", turn + 1)
    if "done" in reply:
        say(flow, f"model: done: {reply['done']}")
        flow.set_string("answer", reply["done"])
        flow.delete("tool")  # routes to review
    else:
        say(flow, f"model: call {reply['tool']}({reply['input']})")
        flow.set_string("tool", reply["tool"])
        flow.set_string("tool_input", reply["input"])


@registry.task("act")
async def act(flow: Flow) -> None:
    """Run the tool the model asked for and hand its result back to the model."""
    tool, tool_input = flow.get_string("tool"), flow.get_string("tool_input")
    try:
        result = TOOLS[tool](flow.step_key, tool_input)
    except ToolTimeout:
        if flow.retry(3, 0.1, 2.0, 1.0):  # up to three retries, 0.1 s, 0.2 s, 0.4 s apart
            return
        raise
    say(flow, f"tool: {tool}({tool_input}) = {result} (attempt {flow.attempt + 1})")
    flow.set_int("tool_calls", flow.get_int("tool_calls") + 1)
    if flow.get_int("tool_calls") < MAX_TOOL_CALLS:
        flow.goto("think")  # back to the model with the tool's result


@registry.task("review")
async def review(flow: Flow) -> None:
    """Wait for a human to review the answer; record the verdict."""
    verdict = flow.interrupt(
        {"question": flow.get_string("question"), "answer": flow.get_string("answer")}
    )
    say(flow, f"reviewer {verdict['reviewer']}: {verdict['verdict']}")
    flow.set_string("verdict", verdict["verdict"])


async def main(scratch: str) -> None:
    """Run the agent until it waits for review, review it, and print the transcript."""
    engine = (
        dwarf.new_engine()
        .with_dsn(f"sqlite:///{scratch}/agent.sqlite")
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with engine:
        question = "What should I pack for Lisbon and Oslo tomorrow?"
        waiting = await engine.run(
            "agent", {"question": question, "transcript": [f"user: {question}"]}, timeout=30
        )
        print(f"status: {waiting.status}, for review of: {waiting.interrupt_payload['answer']}")
        await engine.resume(waiting.flow_key, {"verdict": "approved", "reviewer": "sam"})
        outcome = await engine.await_flow(waiting.flow_key, timeout=30)
    print("transcript:")
    for line in outcome.state["transcript"]:
        print(f"  {line}")
    print(f"status: {outcome.status}")
    print(f"answer: {outcome.state['answer']} ({outcome.state['verdict']})")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(main(scratch))
