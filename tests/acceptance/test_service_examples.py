"""The server examples run as a user runs them: subprocesses on a scratch database.

The document pipeline prints its result.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def _run(*args: str, timeout: float = 180) -> tuple[str, str]:
    """Run ``python *args`` from the checkout; return its stdout and stderr (it must exit 0)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode()


async def test_the_document_pipeline_counts_every_page_and_keeps_page_order(
    postgres_dsn: str,
) -> None:
    out, err = await _run("examples/document_pipeline.py", postgres_dsn)
    assert out.splitlines() == [
        "status: completed",
        "report: 4 pages, 49 words",
        "  page 1: Durable workflows (13 words)",
        "  page 2: Fan-out (12 words)",
        "  page 3: Fan-in (14 words)",
        "  page 4: Replicas (10 words)",
        "steps:  split x1, read_page x4, assemble x1",
    ]
    assert err == ""
