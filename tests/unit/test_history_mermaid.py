"""The history Mermaid renderer draws what ran: nodes, DAG edges, subgraph blocks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dwarf.workflow._history_mermaid import render_history_mermaid
from dwarf.workflow._values import FlowStep, Status

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NODE = re.compile(r'^\s*(\w+)\["(.*)"\]:::(\w+)$')
EDGE = re.compile(r"^\s*(\w+) --> (\w+)$")


def step(
    step_id: int,
    task: str,
    *,
    depth: int = 1,
    pred: int = 0,
    succ: int = 0,
    status: Status = Status.COMPLETED,
    attempt: int = 0,
    ran_for: timedelta | None = None,
    sub: list[FlowStep] | None = None,
) -> FlowStep:
    return FlowStep(
        step_id=step_id,
        step_key=f"1-{step_id}-tok",
        step_depth=depth,
        task_name=task,
        predecessor_id=pred,
        successor_id=succ,
        status=status,
        attempt=attempt,
        started_at=T0 if ran_for is not None else None,
        updated_at=T0 + ran_for if ran_for is not None else None,
        subgraph=bool(sub),
        sub_workflow_name="child" if sub else "",
        sub_history=sub or [],
    )


def nodes(text: str) -> dict[str, tuple[str, str]]:
    found = {}
    for line in text.splitlines():
        if match := NODE.match(line):
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def edges(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for line in text.splitlines() if (m := EDGE.match(line))]


def test_linear_history_draws_a_chain() -> None:
    history = [
        step(1, "fetch", succ=2),
        step(2, "parse", depth=2, pred=1, succ=3),
        step(3, "store", depth=3, pred=2),
    ]
    text = render_history_mermaid(history)
    assert text.startswith("flowchart TD\n")
    assert nodes(text) == {
        "s1": ("fetch", "completed"),
        "s2": ("parse", "completed"),
        "s3": ("store", "completed"),
    }
    assert sorted(edges(text)) == [("s1", "s2"), ("s2", "s3")]


def test_fan_out_and_fan_in_draw_the_union_of_both_edge_sets_once() -> None:
    # Fan-out: children point back at the source, the source forward at the first child only.
    # Fan-in: it points back at the last arriver; every branch points forward at it.
    history = [
        step(1, "split", succ=2),
        step(2, "a", depth=2, pred=1, succ=5),
        step(3, "b", depth=2, pred=1, succ=5),
        step(4, "c", depth=2, pred=1, succ=5),
        step(5, "join", depth=3, pred=4),
    ]
    text = render_history_mermaid(history)
    drawn = edges(text)
    assert len(drawn) == len(set(drawn))
    assert sorted(drawn) == [
        ("s1", "s2"),
        ("s1", "s3"),
        ("s1", "s4"),
        ("s2", "s5"),
        ("s3", "s5"),
        ("s4", "s5"),
    ]


def test_every_status_gets_its_style_class() -> None:
    history = [
        step(1, "a", succ=2),
        step(2, "b", depth=2, pred=1, status=Status.FAILED),
        step(3, "c", depth=2, pred=1, status=Status.RUNNING),
        step(4, "d", depth=2, pred=1, status=Status.INTERRUPTED),
    ]
    text = render_history_mermaid(history)
    assert {cls for _, cls in nodes(text).values()} == {
        "completed",
        "failed",
        "running",
        "interrupted",
    }
    for status in Status:
        assert f"classDef {status.value} " in text


def test_a_retried_step_shows_its_attempt_and_a_first_run_does_not() -> None:
    history = [
        step(1, "flaky", succ=2, attempt=2, ran_for=timedelta(milliseconds=40)),
        step(2, "steady", depth=2, pred=1),
    ]
    drawn = nodes(render_history_mermaid(history))
    assert drawn["s1"][0] == "flaky<br/>attempt 2<br/>40ms"
    assert drawn["s2"][0] == "steady"


def test_durations_show_when_start_and_end_are_known() -> None:
    history = [
        step(1, "quick", succ=2, ran_for=timedelta(milliseconds=850)),
        step(2, "medium", depth=2, pred=1, succ=3, ran_for=timedelta(seconds=1.25)),
        step(3, "long", depth=3, pred=2, succ=4, ran_for=timedelta(minutes=2, seconds=5)),
        step(4, "hours", depth=4, pred=3, succ=5, ran_for=timedelta(hours=3, minutes=10)),
        step(5, "days", depth=5, pred=4, ran_for=timedelta(days=2, hours=4)),
    ]
    labels = {node: label for node, (label, _) in nodes(render_history_mermaid(history)).items()}
    assert labels == {
        "s1": "quick<br/>850ms",
        "s2": "medium<br/>1.25s",
        "s3": "long<br/>2m5s",
        "s4": "hours<br/>3h10m",
        "s5": "days<br/>2d4h",
    }


def test_a_pending_step_shows_no_duration_even_with_timestamps() -> None:
    history = [step(1, "later", status=Status.PENDING, ran_for=timedelta(seconds=5))]
    assert nodes(render_history_mermaid(history))["s1"] == ("later", "pending")


def test_a_subgraph_caller_gets_a_block_with_the_child_history() -> None:
    child = [
        step(21, "inner-a", succ=22),
        step(22, "inner-b", depth=2, pred=21),
    ]
    history = [
        step(1, "prepare", succ=2),
        step(2, "call", depth=2, pred=1, succ=3, sub=child),
        step(3, "finish", depth=3, pred=2),
    ]
    text = render_history_mermaid(history)
    assert 'subgraph s2_sub ["child"]' in text
    block = text[text.index("subgraph s2_sub") : text.index("    end")]
    assert set(nodes(block)) == {"s2_sub_s21", "s2_sub_s22"}
    assert sorted(edges(text)) == [
        ("s1", "s2"),
        ("s2", "s2_sub_s21"),  # the call
        ("s2_sub_s21", "s2_sub_s22"),
        ("s2_sub_s22", "s3"),  # the child's end leads on
    ]


def test_nested_subgraphs_render_recursively_with_unique_ids() -> None:
    grandchild = [step(1, "leaf")]
    child = [step(1, "mid", sub=grandchild)]
    history = [step(1, "top", sub=child)]
    text = render_history_mermaid(history)
    assert set(nodes(text)) == {"s1", "s1_sub_s1", "s1_sub_s1_sub_s1"}
    assert sorted(edges(text)) == [("s1", "s1_sub_s1"), ("s1_sub_s1", "s1_sub_s1_sub_s1")]
    assert text.count("subgraph ") == 2
    assert text.count("\n    end") == 1
    assert text.count("\n        end") == 1


def test_output_is_independent_of_the_input_order() -> None:
    history = [
        step(1, "split", succ=2),
        step(2, "a", depth=2, pred=1, succ=4),
        step(3, "b", depth=2, pred=1, succ=4),
        step(4, "join", depth=3, pred=3),
    ]
    expected = render_history_mermaid(history)
    assert render_history_mermaid(list(reversed(history))) == expected
    assert render_history_mermaid([history[2], history[0], history[3], history[1]]) == expected


def test_labels_escape_mermaid_syntax_and_drop_the_url_scheme() -> None:
    history = [step(1, 'https://svc.example/do "it" <now> #1')]
    label, _ = nodes(render_history_mermaid(history))["s1"]
    assert label == "svc.example/do #quot;it#quot; #lt;now#gt; #35;1"


def test_edges_to_steps_missing_from_the_history_are_skipped() -> None:
    history = [step(5, "orphan", pred=4, succ=6)]
    text = render_history_mermaid(history)
    assert set(nodes(text)) == {"s5"}
    assert edges(text) == []


def test_an_empty_history_renders_only_the_header_and_styles() -> None:
    text = render_history_mermaid([])
    assert text.splitlines()[0] == "flowchart TD"
    assert nodes(text) == {}
    assert edges(text) == []
