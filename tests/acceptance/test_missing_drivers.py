"""Without a server driver's extra, dwarf still imports and runs on SQLite, and naming that server
fails with one ``UnavailableError`` naming the extra to install, at engine startup and in
``dwarf migrate`` alike: never an ``ImportError`` traceback.

Each case runs ``drivers_absent_script.py`` in a subprocess whose import system refuses every
server driver. No server is contacted: the driver check comes before any connection.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("drivers_absent_script.py")
SECRET = "s3cret-pw"


def run_without_drivers(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert SECRET not in result.stdout + result.stderr
    return result


def test_a_flow_runs_on_sqlite_without_any_server_driver(tmp_path: Path) -> None:
    result = run_without_drivers("sqlite", str(tmp_path / "flows.db"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello ada"


def test_dwarf_migrate_on_sqlite_works_without_any_server_driver(tmp_path: Path) -> None:
    result = run_without_drivers("cli", "migrate", "--dsn", f"sqlite:///{tmp_path / 'm.db'}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.db").exists()


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            f"postgresql://dwarf:{SECRET}@127.0.0.1:5432/dwarf",
            "UnavailableError: PostgreSQL needs the psycopg driver: "
            "pip install 'dwarf[postgresql]'",
        ),
        (
            f"mysql://dwarf:{SECRET}@127.0.0.1:3306/dwarf",
            "UnavailableError: MySQL/MariaDB needs the asyncmy driver: pip install 'dwarf[mysql]'",
        ),
        (
            f"mssql://sa:{SECRET}@127.0.0.1:1433/dwarf",
            "UnavailableError: SQL Server needs the aioodbc driver and the unixODBC and FreeTDS",
        ),
    ],
    ids=["postgresql", "mysql", "sqlserver"],
)
def test_engine_startup_names_the_missing_extra(dsn: str, expected: str) -> None:
    result = run_without_drivers("engine", dsn)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(expected), result.stdout


@pytest.mark.parametrize(
    ("dsn", "extra"),
    [
        (f"postgresql://dwarf:{SECRET}@127.0.0.1:5432/dwarf", "dwarf[postgresql]"),
        (f"mariadb://dwarf:{SECRET}@127.0.0.1:3306/dwarf", "dwarf[mysql]"),
        (f"mssql://sa:{SECRET}@127.0.0.1:1433/dwarf", "dwarf[sqlserver]"),
    ],
    ids=["postgresql", "mysql", "sqlserver"],
)
@pytest.mark.parametrize("command", [(), ("status",)], ids=["apply", "status"])
def test_dwarf_migrate_names_the_missing_extra(
    dsn: str, extra: str, command: tuple[str, ...]
) -> None:
    result = run_without_drivers("cli", "migrate", *command, "--dsn", dsn)
    # 1, not 2: the command line is right; the installation lacks a driver.
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dwarf: error: "), lines
    assert f"pip install '{extra}'" in lines[0], lines[0]
