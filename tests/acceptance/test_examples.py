"""The examples run as written and print what they promise (the README shows two of them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, timeout=120, cwd=ROOT
    )


def test_smallest_program_greets_ada() -> None:
    result = _run("examples/smallest.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello ada"


def test_demo_runs_a_fan_out_workflow_on_a_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite"
    result = _run("examples/demo.py", str(database))
    assert result.returncode == 0, result.stderr
    assert "flowchart TD" in result.stdout
    assert "status:  completed" in result.stdout
    assert "summary: 26 LETTERS!" in result.stdout
    assert "lengths: ['durable=7', 'workflows=9', 'for=3', 'asyncio=7']" in result.stdout
    assert database.exists()


def _start_checkout(database: Path) -> str:
    """Run the checkout's first process; return the key of the flow it left awaiting approval."""
    result = _run("examples/checkout.py", str(database), "start")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "status: interrupted" in lines
    assert "charge attempts: 3" in lines  # the gateway failed twice, the retry got through
    assert "waiting for approval of: {'order': 'A-1001', 'amount_cents': 3000}" in lines
    return lines[0].removeprefix("flow: ")


def test_checkout_approved_by_a_second_process_ships(tmp_path: Path) -> None:
    database = tmp_path / "orders.sqlite"
    flow_key = _start_checkout(database)

    result = _run("examples/checkout.py", str(database), "approve", flow_key)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "status: completed"
    for line in (
        "  approver: dana",
        "  charge_attempts: 3",
        "  receipt: receipt-A-1001",
        "  tracking: track-A-1001",
    ):
        assert line in lines
    assert lines[-4:] == [
        "  reserve: completed after 1 run(s)",
        "  charge: completed after 3 run(s)",
        "  approve: completed after 1 run(s)",
        "  ship: completed after 1 run(s)",
    ]


def test_checkout_rejected_refunds_and_cannot_be_decided_again(tmp_path: Path) -> None:
    database = tmp_path / "orders.sqlite"
    flow_key = _start_checkout(database)

    rejected = _run("examples/checkout.py", str(database), "reject", flow_key)
    again = _run("examples/checkout.py", str(database), "approve", flow_key)

    assert rejected.returncode == 0, rejected.stderr
    assert "  refunded: receipt-A-1001" in rejected.stdout.splitlines()
    assert "tracking" not in rejected.stdout
    assert rejected.stdout.splitlines()[-1] == "  refund: completed after 1 run(s)"
    assert again.returncode == 1
    assert again.stderr.strip() == f"cannot resume {flow_key}: flow is completed, not interrupted"


def test_agent_loop_calls_tools_until_done_then_waits_for_review() -> None:
    result = _run("examples/agent_loop.py")

    assert result.returncode == 0, result.stderr
    answer = "sunglasses for Lisbon; a raincoat and a warm layer for Oslo"
    assert result.stdout.splitlines() == [
        f"status: interrupted, for review of: {answer}",
        "transcript:",
        "  user: What should I pack for Lisbon and Oslo tomorrow?",
        "  model: call forecast(Lisbon)",
        "  tool: forecast(Lisbon) = sunny, 24 C (attempt 2)",
        "  model: call forecast(Oslo)",
        "  tool: forecast(Oslo) = rain, 6 C (attempt 2)",
        f"  model: done: {answer}",
        "  reviewer sam: approved",
        "status: completed",
        f"answer: {answer} (approved)",
    ]


def test_readme_shows_the_smallest_program_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    for line in (
        'g = Graph("greet")',
        '@registry.task("hello")',
        'out = await eng.run("greet", {"name": "ada"})',
        'print(out.state["greeting"])         # hello ada',
    ):
        assert line in readme
