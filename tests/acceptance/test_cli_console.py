"""``dwarf console`` as an operator starts it: a subprocess, its one-line failures and exit codes.

What the console serves is tested over HTTP (tests/console/) and in a browser (tests/browser/);
here, the command around it.
"""

from __future__ import annotations

import asyncio
import os
import sys

from dwarf.engine import Engine
from tests.fixtures.browser import free_port
from tests.fixtures.cli import SECRET, run_dwarf, with_password


async def test_help_explains_the_token_and_the_extra() -> None:
    text = " ".join((await run_dwarf("console", "--help")).ok().split())
    assert "read-only unless started with a token" in text
    assert "DWARF_CONSOLE_TOKEN" in text
    assert "pip install 'dwarf[console]'" in text
    assert "127.0.0.1" in text


_WITHOUT_THE_EXTRA = """
import sys
from importlib.abc import MetaPathFinder

class Refuse(MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in {"starlette", "jinja2", "uvicorn", "multipart"}:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None

sys.meta_path.insert(0, Refuse())
from dwarf._cli.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


async def test_without_the_console_extra_it_fails_with_one_line_naming_it(
    sqlite_dsn: str,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WITHOUT_THE_EXTRA,
        "console",
        "--dsn",
        sqlite_dsn,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 1
    assert err.decode().splitlines() == [
        "dwarf: error: dwarf console needs the console extra (uvicorn is missing): "
        "pip install 'dwarf[console]'"
    ]


async def test_without_a_dsn_it_is_a_usage_error() -> None:
    run = await run_dwarf("console", env={"DWARF_DSN": ""})
    run.failed_with(2, "no database: give --dsn or set DWARF_DSN")


async def test_a_graph_loader_that_does_not_resolve_is_a_usage_error(sqlite_dsn: str) -> None:
    run = await run_dwarf("console", "--dsn", sqlite_dsn, "--graphs", "json:nothing_here")
    run.failed_with(2, "--graphs: 'json:nothing_here' has no attribute 'nothing_here'")
    run = await run_dwarf("console", "--dsn", sqlite_dsn, "--graphs", "no_colon")
    run.failed_with(2, "--graphs must look like module:callable")


async def test_a_database_without_dwarfs_schema_is_refused(sqlite_dsn: str) -> None:
    run = await run_dwarf("console", "--dsn", sqlite_dsn)
    run.failed_with(1, "the schema is not at this dwarf's version")


async def test_it_announces_where_it_serves_with_the_password_masked(postgres_dsn: str) -> None:
    dsn = with_password(postgres_dsn)
    async with Engine().with_dsn(dsn).with_workers(0):
        pass  # startup migrates the schema
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dwarf._cli",
        "console",
        "--port",
        str(free_port()),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DWARF_DSN": dsn, "DWARF_CONSOLE_TOKEN": ""},
    )
    assert proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stderr.readline(), timeout=60)).decode()
    finally:
        proc.terminate()
        rest = (await asyncio.wait_for(proc.communicate(), timeout=30))[1].decode()
    assert line.startswith("dwarf console on http://127.0.0.1:")
    assert ":***@" in line
    assert line.rstrip().endswith("read-only (no token)")
    assert SECRET not in line + rest
    assert "Traceback" not in rest
