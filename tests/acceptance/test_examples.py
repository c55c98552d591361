"""The README's programs run as written: the smallest program and the demo."""

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


def test_readme_shows_the_smallest_program_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    for line in (
        'g = Graph("greet")',
        '@registry.task("hello")',
        'out = await eng.run("greet", {"name": "ada"})',
        'print(out.state["greeting"])         # hello ada',
    ):
        assert line in readme
