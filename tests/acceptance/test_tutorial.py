"""The tutorial's programs (examples/tutorial) run as the pages say and print what they show."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.fixtures.cli import run_dwarf

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "examples" / "tutorial"


async def _run(script: str, *args: str) -> str:
    """Run a tutorial program from the repository root; assert it succeeded; return its stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(TUTORIAL / script),
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _flow_key(out: str) -> str:
    match = re.search(r"^flow:\s+(\S+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


async def test_step1_runs_an_order_and_reads_its_history_back_from_the_file(
    tmp_path: Path,
) -> None:
    database = tmp_path / "orders.sqlite"
    out = await _run("step1_first_workflow.py", str(database))
    assert out.splitlines() == [
        "status:  completed",
        "message: order o-1: 16 EUR",
        "history: price -> confirm",
    ]
    assert database.exists()


async def test_step2_runs_the_same_order_on_a_migrated_postgresql_database(
    postgres_dsn: str,
) -> None:
    await run_dwarf("migrate", "--dsn", postgres_dsn)
    out = await _run("step2_postgresql.py", postgres_dsn)
    assert out.splitlines()[1:] == ["status:  completed", "message: order o-2: 34 EUR"]
    shown = (await run_dwarf("flows", "show", _flow_key(out), "--dsn", postgres_dsn)).ok()
    assert re.search(r"^status:\s+completed$", shown, re.MULTILINE), shown


async def test_step3_fans_out_per_item_and_merges_at_the_fan_in(tmp_path: Path) -> None:
    out = await _run("step3_fan_out.py", str(tmp_path / "orders.sqlite"))
    assert out.splitlines() == [
        "status:  completed",
        "picked:  ['1/3 tea', '2/3 cups', '3/3 kettle']",
        "weight:  2350 g, large parcel",
        "history: receive@1, pick@2, pick@2, pick@2, ship@3",
    ]


async def test_step4_parks_a_large_refund_until_another_process_resumes_it(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "refunds.sqlite")
    started = await _run("step4_human_approval.py", database, "start", "250")
    assert started.splitlines()[:2] == ["status:  interrupted", "asks:    refund 250 EUR?"]
    resumed = await _run("step4_human_approval.py", database, "resume", _flow_key(started), "ada")
    assert resumed.splitlines() == ["status:  completed", "paid:    250 EUR, approved by ada"]


async def test_step4_pays_a_small_refund_without_asking(tmp_path: Path) -> None:
    out = await _run("step4_human_approval.py", str(tmp_path / "refunds.sqlite"), "start", "40")
    assert out.splitlines() == ["status:  completed", "paid:    40 EUR"]
