"""Run one dwarf scenario as an install without the server-driver extras would: a subprocess.

A meta-path finder refuses every server driver (psycopg, asyncmy, aioodbc, pyodbc), and aiosqlite
(SQLite runs on the standard library), before dwarf is imported, as in
``dbos-inc/dbos-transact-py:tests/otel_absent_script.py``.

Usage: python drivers_absent_script.py SCENARIO [ARG...]

- ``sqlite PATH``: run one flow on the SQLite file at PATH and print the greeting.
- ``engine DSN``: start an engine on DSN; print the error it raised as ``Type: message``.
- ``cli ARG...``: run ``dwarf ARG...`` and exit with its code.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

BLOCKED = frozenset(
    {"psycopg", "psycopg_c", "psycopg_binary", "asyncmy", "aioodbc", "pyodbc", "aiosqlite"}
)


class _RefuseDrivers(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _engine(dsn: str) -> object:
    import dwarf
    from dwarf.engine import TestProxy
    from dwarf.workflow import END, Flow, Graph

    proxy = TestProxy()
    graph = Graph("greet")
    graph.add_task("hello", "hello")
    graph.add_transition("hello", END)
    proxy.handle_graph("greet", graph)

    @proxy.task("hello")
    async def hello(flow: Flow) -> None:
        flow.set_string("greeting", "hello " + flow.get_string("name"))

    return (
        dwarf.new_engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
    )


async def _run_on_sqlite(path: str) -> None:
    from dwarf.engine import Engine

    engine = _engine(f"sqlite:///{path}")
    assert isinstance(engine, Engine)
    async with engine:
        outcome = await engine.run("greet", {"name": "ada"}, timeout=30)
    print(outcome.state["greeting"])


async def _start(dsn: str) -> None:
    from dwarf.engine import Engine
    from dwarf.errors import DwarfError

    engine = _engine(dsn)
    assert isinstance(engine, Engine)
    try:
        await engine.startup()
    except DwarfError as exc:
        print(f"{type(exc).__name__}: {exc}")
        return
    await engine.shutdown()
    print("started")


def main(argv: Sequence[str]) -> int:
    sys.meta_path.insert(0, _RefuseDrivers())
    scenario, *args = argv
    if scenario == "sqlite":
        asyncio.run(_run_on_sqlite(args[0]))
        return 0
    if scenario == "engine":
        asyncio.run(_start(args[0]))
        return 0
    from dwarf._cli.__main__ import main as dwarf_main

    return dwarf_main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
