"""Two processes writing one SQLite file: each holds the write lock for a turn of its event loop
(docs/internals/storage.md, S5a), the other waits and retries, and every step still runs exactly
once, with no error reaching a caller."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path

WORKER = Path(__file__).with_name("sqlite_peer_worker.py")
FLOWS_EACH = 300
PROCESSES = 2
TIME_LIMIT = 240.0


async def test_two_processes_on_one_sqlite_file_run_every_step_exactly_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.sqlite"
    total = FLOWS_EACH * PROCESSES
    procs = []
    for n in range(PROCESSES):
        env = {
            **os.environ,
            "DWARF_PEER_DSN": f"sqlite:///{path}",
            "DWARF_PEER_FLOWS": str(FLOWS_EACH),
            "DWARF_PEER_TOTAL": str(total),
            "DWARF_PEER_NAME": f"p{n}",
        }
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        )
    try:
        async with asyncio.timeout(TIME_LIMIT):
            outputs = [await proc.communicate() for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    ran = sum(json.loads(out.decode().strip().splitlines()[-1])["ran"] for out, _ in outputs)
    assert ran == total * 3  # every task ran exactly once, across both processes

    db = sqlite3.connect(path)
    try:
        flows = Counter(status for (status,) in db.execute("SELECT status FROM dwarf_flows"))
        steps = db.execute("SELECT flow_id, task_name, status FROM dwarf_steps").fetchall()
    finally:
        db.close()
    assert flows == {"completed": total}
    assert Counter(status for *_, status in steps) == {"completed": total * 3}
    assert set(Counter((flow_id, task) for flow_id, task, _ in steps).values()) == {1}
