"""No DSN password is ever printed, whatever form the DSN takes, by any command or by startup.

Every command reads ``DWARF_DSN`` when ``--dsn`` is absent (so a password stays out of argv and
shell history). ``run_dwarf`` fails any run whose output holds ``SECRET``.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError, DwarfError
from tests.fixtures.cli import SECRET, run_dwarf

COMMANDS = [
    ("migrate",),
    ("migrate", "--dry-run"),
    ("migrate", "status"),
    ("flows", "list"),
    ("shards",),
]

BAD_DSNS = [
    f"host=127.0.0.1 port=1 user=dwarf password={SECRET} dbname=dwarf",  # libpq keywords
    f"host=127.0.0.1 password='{SECRET}' dbname=dwarf",  # quoted keyword value
    f"dwarf:{SECRET}@127.0.0.1:1/dwarf",  # a URL without its scheme
    f"dwarf:{quote(SECRET + '@/', safe='')}@127.0.0.1:1/dwarf",  # URL-encoded, no scheme
    f"postgresql://dwarf:{SECRET}@127.0.0.1:1/dwarf#frag",  # a fragment
    f"postgresql://dwarf:{SECRET}@127.0.0.1:1/dwarf?password={SECRET}&a",  # bad query
    f"mysql://dwarf:{SECRET}@127.0.0.1:notaport/dwarf",  # a bad port
]


@pytest.mark.parametrize(
    ("command", "dsn"),
    # every DSN form, and every command, each at least once (a subprocess per run is slow)
    [(COMMANDS[i % len(COMMANDS)], dsn) for i, dsn in enumerate(BAD_DSNS)],
)
async def test_no_command_echoes_a_password_in_any_dsn_form(
    command: tuple[str, ...], dsn: str
) -> None:
    from_env = await run_dwarf(*command, env={"DWARF_DSN": dsn})
    from_flag = await run_dwarf(*command, "--dsn", dsn)
    for run in (from_env, from_flag):
        assert run.code == 2, run
        assert "dwarf: error: " in run.err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_every_command_reads_dwarf_dsn_when_dsn_is_absent(
    command: tuple[str, ...], sqlite_dsn: str
) -> None:
    if command[0] != "migrate":
        await run_dwarf("migrate", env={"DWARF_DSN": sqlite_dsn})  # flows and shards need it
    run = await run_dwarf(*command, env={"DWARF_DSN": sqlite_dsn})
    assert run.code == 0, run


@pytest.mark.parametrize("dsn", BAD_DSNS)
async def test_startup_never_echoes_a_password(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    proxy = TestProxy()
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DwarfError) as info:
        await engine.startup()
    assert isinstance(info.value, BadRequestError)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
