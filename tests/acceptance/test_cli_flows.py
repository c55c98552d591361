"""``dwarf flows`` and ``dwarf shards`` end to end, as an operator runs them: a subprocess each.

Flows are made in the test by an engine with a TestProxy on the same database, which is then
shut down: the command line must work alone. Every run checks that no output holds the
password (PostgreSQL DSNs carry one throughout; the test server trusts local connections) and
that no traceback escapes; every failure is one line on stderr with its exit code.
"""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.cli import SECRET, Run, run_dwarf, with_password


@dataclass(frozen=True, slots=True)
class Cli:
    """The ``dwarf`` command on one database (``DWARF_DSN`` set, unless a test overrides it)."""

    dsn: str

    async def __call__(self, *args: str, env: dict[str, str] | None = None) -> Run:
        run = await run_dwarf(*args, env={"DWARF_DSN": self.dsn, **(env or {})})
        assert "\x1b[" not in run.out, "plain output must carry no terminal codes"
        return run


def _on_terminal(dsn: str, args: tuple[str, ...], answer: str) -> tuple[int, str]:
    """Run ``dwarf args`` on a pseudo-terminal, typing ``answer`` at its first question."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONWARNINGS": "error", "DWARF_DSN": dsn, "COLUMNS": "200"}
    with subprocess.Popen(
        [sys.executable, "-m", "dwarf._cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    ) as proc:
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the command exited and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if answer and b"[y/N]" in seen:
                os.write(leader, answer.encode() + b"\n")
                answer = ""
        code = proc.wait(timeout=60)
    os.close(leader)
    text = seen.decode(errors="replace")
    assert SECRET not in text
    assert "Traceback" not in text, text
    return code, text


@dataclass(frozen=True, slots=True)
class Flows:
    """The flows every test starts from, by what became of them."""

    interrupted: str
    failed: str
    completed: str


def _proxy(calls: list[str]) -> TestProxy:
    proxy = TestProxy()
    for name, chain in (("ask", ("ask", "done")), ("boom", ("boom",)), ("ok", ("done",))):
        graph = Graph(name)
        graph.add_transition_chain(*chain, END)
        proxy.handle_graph(name, graph)

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        calls.append("ask")
        flow.set_int("asked", 1)
        answer: dict[str, Any] = flow.interrupt({"question": "approve?"})
        flow.set("approved", answer.get("approved"))

    @proxy.task("done")
    async def done(flow: Flow) -> None:
        calls.append("done")
        flow.set_string("result", "done")

    @proxy.task("boom")
    async def boom(flow: Flow) -> None:
        calls.append("boom")
        raise RuntimeError("kaput [see runbook]")

    return proxy


def _engine(dsn: str, proxy: TestProxy) -> Engine:
    return (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(2)
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request: pytest.FixtureRequest) -> str:
    """A fresh database: a SQLite file, PostgreSQL with a password in its DSN, or MariaDB (for
    the tests marked ``with_mariadb``; its test server's root has no password to hide)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_dsn"))
    if request.param == "mysql":
        return str(request.getfixturevalue("mysql_dsn"))
    return with_password(request.getfixturevalue("postgres_dsn"))


with_mariadb = pytest.mark.parametrize("dsn", ["sqlite", "postgresql", "mysql"], indirect=True)
"""Run a test on MariaDB too: the commands whose results depend on the dialect's queries (the
rest, such as option parsing, behave the same on every database, so two keep them honest)."""


@pytest.fixture
def calls() -> list[str]:
    """Every task call the test's engines made, in order."""
    return []


@pytest.fixture
async def flows(dsn: str, calls: list[str]) -> Flows:
    """One interrupted, one failed and one completed flow, made by an engine since shut down."""
    async with _engine(dsn, _proxy(calls)) as engine:
        keys = []
        for name in ("ask", "boom", "ok"):
            key = await engine.create(name)
            await engine.start(key)
            await engine.await_flow(key, timeout=30)
            keys.append(key)
    return Flows(*keys)


@pytest.fixture
def dwarf(dsn: str) -> Cli:
    """The command line on the test's database."""
    return Cli(dsn)


@with_mariadb
async def test_list_shows_every_flow_and_applies_each_filter(dwarf: Cli, flows: Flows) -> None:
    table = (await dwarf("flows", "list")).ok().splitlines()
    assert table[0].split() == ["KEY", "WORKFLOW", "STATUS", "TASK", "CREATED", "UPDATED", "ERROR"]
    assert sorted(line.split()[0] for line in table[1:]) == sorted(
        [flows.interrupted, flows.failed, flows.completed]
    )
    assert any("kaput [see runbook]" in line for line in table), "markup-like text prints as is"

    async def keys(*args: str) -> list[str]:
        document = (await dwarf("flows", "list", "--json", *args)).json()
        return [flow["flow_key"] for flow in document["flows"]]

    assert await keys("--status", "failed") == [flows.failed]
    assert await keys("--workflow", "ask") == [flows.interrupted]
    assert await keys("--search", "KAPUT") == [flows.failed]
    assert await keys("--task", "done") == [flows.completed]
    assert await keys("--thread", flows.completed) == [flows.completed]
    assert await keys("--older-than", "1h") == []
    assert len(await keys("--newer-than", "1h", "--shard", "1", "--priority", "100")) == 3
    assert await keys("--fairness-key", "nobody") == []

    first = (await dwarf("flows", "list", "--limit", "1", "--json")).json()
    assert len(first["flows"]) == 1
    assert first["next_cursor"]
    paged = (await dwarf("flows", "list", "--limit", "1")).ok()
    assert f"more: --cursor {first['next_cursor']}" in paged
    rest = await keys("--limit", "1", "--cursor", first["next_cursor"], "--all")
    assert sorted([first["flows"][0]["flow_key"], *rest]) == sorted(
        [flows.interrupted, flows.failed, flows.completed]
    )


@with_mariadb
async def test_show_history_and_mermaid_describe_a_flow(dwarf: Cli, flows: Flows) -> None:
    shown = (await dwarf("flows", "show", flows.interrupted)).ok()
    assert "status:       interrupted" in shown
    assert '"asked": 1' in shown
    assert '{"question": "approve?"}' in shown
    failed = (await dwarf("flows", "show", flows.failed, "--json")).json()["flow"]
    assert failed["status"] == "failed"
    assert "kaput" in failed["error"]
    assert failed["workflow_name"] == "boom"
    assert failed["started_at"]
    assert failed["duration_seconds"] >= 0

    history = (await dwarf("flows", "history", flows.completed)).ok().splitlines()
    assert history[0].split()[:4] == ["STEP", "TASK", "STATUS", "ATTEMPT"]
    assert history[1].split()[1:5] == ["done", "completed", "1", history[1].split()[4]]
    assert "result" in history[1]
    steps = (await dwarf("flows", "history", flows.interrupted, "--json")).json()["steps"]
    assert [(s["task_name"], s["status"], s["attempts"]) for s in steps] == [
        ("ask", "interrupted", 1)
    ]
    assert steps[0]["changes"] == {"asked": 1}

    mermaid = (await dwarf("flows", "mermaid", flows.completed)).ok()
    assert mermaid.startswith("flowchart")
    assert "done" in mermaid


@with_mariadb
async def test_resume_takes_json_data_and_runs_no_step_itself(
    dwarf: Cli, flows: Flows, dsn: str, calls: list[str], tmp_path: Path
) -> None:
    before = list(calls)
    data = tmp_path / "answer.json"
    data.write_text('{"approved": true}')
    assert (await dwarf("flows", "resume", flows.interrupted, "--data-file", str(data))).ok()
    shown = (await dwarf("flows", "show", flows.interrupted, "--json")).json()["flow"]
    assert shown["status"] == "running", "the command line must not run the resumed step"
    assert calls == before

    async with _engine(dsn, _proxy(calls)) as worker:
        outcome = await worker.await_flow(flows.interrupted, timeout=30)
    assert outcome.status is Status.COMPLETED
    assert outcome.state["approved"] is True


@with_mariadb
async def test_cancel_restart_fork_and_delete_change_the_flows(dwarf: Cli, flows: Flows) -> None:
    assert (await dwarf("flows", "cancel", flows.interrupted, "--reason", "not needed")).ok()
    cancelled = (await dwarf("flows", "show", flows.interrupted, "--json")).json()["flow"]
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "not needed")

    restarted = await dwarf("flows", "restart", flows.failed, "--data", '{"retry": 1}', "--json")
    assert restarted.json() == {"ok": True, "action": "restart", "key": flows.failed}
    assert (await dwarf("flows", "show", flows.failed, "--json")).json()["flow"]["status"] in {
        "running",
        "pending",
    }

    step = (await dwarf("flows", "history", flows.completed, "--json")).json()["steps"][0]
    forked = (await dwarf("flows", "fork", step["step_key"], "--json")).json()
    assert forked["flow_key"] not in {flows.interrupted, flows.failed, flows.completed}
    listed = (await dwarf("flows", "list", "--json")).json()["flows"]
    assert forked["flow_key"] in [flow["flow_key"] for flow in listed]
    again = await dwarf("flows", "restart-from", step["step_key"], "--data", '{"n": 2}')
    assert again.ok() == f"restarting from {step['step_key']}\n"
    assert (await dwarf("flows", "show", flows.completed, "--json")).json()["flow"]["status"] == (
        "running"
    )
    (await dwarf("flows", "restart-from", step["step_key"])).failed_with(1, "stopped step")

    assert (await dwarf("flows", "delete", flows.interrupted)).ok() == (
        f"deleted {flows.interrupted}\n"
    )
    (await dwarf("flows", "show", flows.interrupted)).failed_with(1, "not found")


async def test_purge_counts_asks_and_deletes(dwarf: Cli, flows: Flows) -> None:
    dry = await dwarf("flows", "purge", "--status", "completed", "--dry-run")
    assert dry.ok() == "would delete 1 flow (dry run: nothing deleted)\n"
    (await dwarf("flows", "purge", "--status", "completed")).failed_with(2, "--yes")
    (await dwarf("flows", "purge", "--yes")).failed_with(2, "--status, --workflow or --older-than")
    assert (await dwarf("flows", "purge", "--older-than", "1h", "--yes", "--json")).json() == {
        "ok": True,
        "dry_run": False,
        "flows": 0,
    }
    assert (await dwarf("flows", "purge", "--newer-than", "1h")).code == 2, "not a purge filter"

    purged = await dwarf("flows", "purge", "--workflow", "ok", "--yes")
    assert purged.ok() == "deleted 1 flow\n"
    listed = (await dwarf("flows", "list", "--json")).json()["flows"]
    assert sorted(flow["flow_key"] for flow in listed) == sorted([flows.interrupted, flows.failed])


async def test_on_a_terminal_purge_asks_first_and_tables_are_drawn(
    dwarf: Cli, flows: Flows
) -> None:
    purge = ("flows", "purge", "--status", "completed")
    code, text = await asyncio.to_thread(_on_terminal, dwarf.dsn, purge, "n")
    assert code == 1
    assert "delete 1 flow and their steps? [y/N]" in text
    code, text = await asyncio.to_thread(_on_terminal, dwarf.dsn, purge, "y")
    assert code == 0, text
    assert "deleted 1 flow" in text
    listed = (await dwarf("flows", "list", "--json")).json()["flows"]
    assert flows.completed not in [flow["flow_key"] for flow in listed]

    code, text = await asyncio.to_thread(_on_terminal, dwarf.dsn, ("flows", "list"), "")
    assert code == 0
    assert "\u2500" in text, "a terminal gets a rule under the header"
    assert flows.failed in text


@with_mariadb
async def test_shards_reports_each_shard(dwarf: Cli, flows: Flows) -> None:
    del flows
    table = (await dwarf("shards")).ok().splitlines()
    assert table[0].split() == ["SHARD", "LATENCY", "FLOWS", "STEPS", "ERROR"]
    assert table[1].split()[0] == "1"
    document = (await dwarf("shards", "--json")).json()
    assert [(s["shard"], s["flows"], s["error"]) for s in document["shards"]] == [(1, 3, None)]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        pytest.param(("flows", "show", "1-999-0123456789abcdef"), 1, "not found", id="unknown-key"),
        pytest.param(("flows", "history", "not-a-key"), 1, "invalid flow key", id="malformed-key"),
        pytest.param(
            ("flows", "resume", "{interrupted}", "--data", '{"approved": tru'),
            2,
            "--data is not valid JSON",
            id="malformed-json",
        ),
        pytest.param(
            ("flows", "resume", "{interrupted}", "--data", "[true]"),
            2,
            "must be a JSON object",
            id="json-not-an-object",
        ),
        pytest.param(
            ("flows", "fork", "{interrupted}", "--data-file", "/nonexistent/data.json"),
            2,
            "cannot read /nonexistent/data.json",
            id="missing-data-file",
        ),
        pytest.param(
            ("flows", "resume", "{failed}"), 1, "not interrupted", id="resume-a-failed-flow"
        ),
        pytest.param(("flows", "list", "--status", "lost"), 2, "invalid choice", id="bad-status"),
        pytest.param(("flows", "list", "--older-than", "soon"), 2, "duration", id="bad-age"),
        pytest.param(("flows", "list", "--shard", "2"), 1, "shard", id="shard-out-of-range"),
    ],
)
async def test_bad_input_fails_with_one_line_and_its_exit_code(
    dwarf: Cli, flows: Flows, args: tuple[str, ...], code: int, fragment: str
) -> None:
    named = {"{interrupted}": flows.interrupted, "{failed}": flows.failed}
    filled = [named.get(arg, arg) for arg in args]
    (await dwarf(*filled)).failed_with(code, fragment)
    # Nothing changed: the interrupted flow still waits.
    assert (await dwarf("flows", "show", flows.interrupted, "--json")).json()["flow"][
        "status"
    ] == "interrupted"


async def test_the_dsn_comes_from_the_option_or_the_environment_or_nowhere(
    dwarf: Cli, flows: Flows, dsn: str
) -> None:
    del flows
    no_env = {"DWARF_DSN": ""}
    (await dwarf("flows", "list", env=no_env)).failed_with(2, "give --dsn or set DWARF_DSN")
    (await dwarf("shards", env=no_env)).failed_with(2, "DWARF_DSN")
    (await dwarf("migrate", "status", env=no_env)).failed_with(2, "DWARF_DSN")
    assert len((await dwarf("flows", "list", "--dsn", dsn, "--json", env=no_env)).json()["flows"])
    assert (await dwarf("migrate", "status", "--json")).json()["ok"] is True

    unreachable = f"postgresql://dwarf:{SECRET}@127.0.0.1:1/dwarf"
    (await dwarf("flows", "list", "--dsn", unreachable)).failed_with(1, "127.0.0.1:1")
    (await dwarf("shards", env={"DWARF_DSN": unreachable})).failed_with(1, "127.0.0.1:1")
    bad_scheme = f"nosuchdb://dwarf:{SECRET}@127.0.0.1/dwarf"
    (await dwarf("flows", "list", "--dsn", bad_scheme)).failed_with(2, "nosuchdb")


async def test_a_database_without_dwarfs_schema_is_refused_and_left_alone(dwarf: Cli) -> None:
    for command in (("flows", "list"), ("shards",), ("flows", "purge", "--status", "failed")):
        (await dwarf(*command, "--yes" if "purge" in command else "--json")).failed_with(
            1, "run dwarf migrate"
        )
    status = (await dwarf("migrate", "status", "--json")).json()
    assert status["shards"][0]["version"] == 0, "nothing was migrated"


async def test_help_documents_the_exit_codes(dwarf: Cli) -> None:
    help_text = (await dwarf("--help")).ok()
    assert "malformed JSON" in help_text
    assert "DWARF_DSN" in help_text
    run = await dwarf("flows")
    assert run.code == 2
    assert "purge" in run.err


async def test_migrate_across_shards_on_a_terminal_ends_with_its_table(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'shard_%d.sqlite'}"
    args = ("migrate", "--shards", "3")
    code, text = await asyncio.to_thread(_on_terminal, dsn, args, "")
    assert code == 0, text
    assert text.count("applied") == 3, text
    assert [(tmp_path / f"shard_{i}.sqlite").exists() for i in (1, 2, 3)] == [True] * 3
