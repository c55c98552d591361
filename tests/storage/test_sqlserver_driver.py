"""SQL Server through the real driver stack (aioodbc, pyodbc, unixODBC, FreeTDS), without a server.

No SQL Server exists here: these tests pin what can be shown without one. A server that cannot
be reached, or an ODBC driver that is not installed, is a one-line error within the login
timeout, never a hang and never a password; the shard retries exactly the errors that mean
"lost a race" (deadlock victim 1205, lock timeout 1222). The conformance suites run on a real
server when ``DWARF_TEST_MSSQL_DSN`` names one (see tests/fixtures/databases.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time

import pyodbc
import pytest

from dwarf._storage._dsn import parse_dsn
from dwarf._storage._faults import is_contention
from dwarf._storage._open import open_store
from dwarf.engine import Engine, TestProxy
from dwarf.errors import UnavailableError

SECRET = "s3cr3t;}{=Pa55"
PASSWORD = "s3cr3t%3B%7D%7B%3DPa55"
# Login timeout 2 s: a refused connection fails at once anyway; this bounds any slower failure.
LOGIN_TIMEOUT = 2
FAIL_WITHIN = 15.0


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def unreachable_dsn(query: str = "") -> str:
    extra = f"&{query}" if query else ""
    return (
        f"mssql://dwarf:{PASSWORD}@127.0.0.1:{closed_port()}/flows"
        f"?login_timeout={LOGIN_TIMEOUT}{extra}"
    )


@pytest.mark.parametrize(
    ("error", "contended"),
    [
        (
            pyodbc.Error(
                "40001",
                "[40001] [FreeTDS][SQL Server]Transaction (Process ID 57) was deadlocked on "
                "lock resources with another process and has been chosen as the deadlock "
                "victim. Rerun the transaction. (1205) (SQLExecDirectW)",
            ),
            True,
        ),
        (
            pyodbc.OperationalError(
                "HY000",
                "[HY000] [FreeTDS][SQL Server]Lock request time out period exceeded. (1222) "
                "(SQLExecDirectW)",
            ),
            True,
        ),
        (
            pyodbc.ProgrammingError(
                "42S02",
                "[42S02] [FreeTDS][SQL Server]Invalid object name 'dwarf_x'. (208) "
                "(SQLExecDirectW)",
            ),
            False,
        ),
        (
            pyodbc.IntegrityError(
                "23000",
                "[23000] [FreeTDS][SQL Server]Violation of PRIMARY KEY constraint "
                "'PK_x'. Cannot insert duplicate key (1222 rows). (2627) (SQLExecDirectW)",
            ),
            False,
        ),
    ],
    ids=["deadlock-victim", "lock-timeout", "missing-table", "duplicate-key"],
)
def test_only_deadlocks_and_lock_timeouts_are_retried(error: pyodbc.Error, contended: bool) -> None:
    assert is_contention(error) is contended


async def test_an_unreachable_server_fails_fast_with_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(UnavailableError, match=r"cannot reach SQL Server at 127\.0\.0\.1:\d+"):
        await asyncio.wait_for(
            open_store(1, parse_dsn(unreachable_dsn()), max_open_conns=2), FAIL_WITHIN
        )
    assert time.monotonic() - started < FAIL_WITHIN


async def test_a_missing_odbc_driver_is_named_with_its_package() -> None:
    dsn = parse_dsn(unreachable_dsn("driver=No+Such+Driver"))
    with pytest.raises(UnavailableError) as caught:
        await asyncio.wait_for(open_store(1, dsn, max_open_conns=2), FAIL_WITHIN)
    message = str(caught.value)
    assert "the ODBC driver 'No Such Driver' is not installed" in message
    assert "apt-get install tdsodbc" in message
    assert SECRET not in message


async def test_engine_startup_on_an_unreachable_server_is_a_clear_error() -> None:
    proxy = TestProxy()
    engine = (
        Engine()
        .with_dsn(unreachable_dsn())
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
    )
    with pytest.raises(UnavailableError, match="cannot reach SQL Server") as caught:
        await asyncio.wait_for(engine.startup(), FAIL_WITHIN)
    assert SECRET not in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


async def test_dwarf_migrate_on_an_unreachable_server_prints_one_line_without_the_password() -> (
    None
):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dwarf._cli",
        "migrate",
        "--dsn",
        unreachable_dsn(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = err.decode()
    assert proc.returncode == 1, (out, text)
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("dwarf: error: "), lines
    assert "cannot reach SQL Server at 127.0.0.1:" in lines[0]
    assert "s3cr3t" not in text + out.decode()
