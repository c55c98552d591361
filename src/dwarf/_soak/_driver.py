"""The soak driver: replicas killed and restarted while flows are created, then a verdict.

It starts ``replicas`` replica processes, creates ``flows`` workload flows through an engine of
its own that dispatches nothing, and meanwhile every ``kill_every`` seconds SIGKILLs a random
replica and starts a replacement (``kills`` times), optionally also terminating every database
session (PostgreSQL ``pg_terminate_backend``, MariaDB ``KILL``; needs a privileged user). Then it
waits for every flow and checks each through the public API (``_workload.verdict``).
"""

from __future__ import annotations

import asyncio
import random
import sys
from dataclasses import dataclass

from dwarf._soak._workload import WORKFLOW, Verdict, proxy, verdict
from dwarf.engine import Engine
from dwarf.errors import ConflictError, UnavailableError
from dwarf.workflow import FlowOutcome

__all__ = ["Report", "Settings", "soak"]


@dataclass(frozen=True)
class Settings:
    """What to run."""

    dsn: str
    replicas: int = 3
    flows: int = 200
    kills: int = 5
    kill_every: float = 2.0
    terminate_connections: bool = False
    settle: float = 180.0


@dataclass
class Report:
    """What happened: the verdict plus the chaos and the recovery time after the last kill."""

    verdict: Verdict
    kills: int
    terminations: int
    unknown_creates: int
    recovery_seconds: float
    elapsed_seconds: float

    @property
    def clean(self) -> bool:
        """No flow lost, failed, stuck or wrong, and no duplicate fan-in contribution."""
        v = self.verdict
        return not (v.lost or v.failed or v.stuck or v.wrong_state or v.duplicates)

    def lines(self) -> list[str]:
        """The report, one figure per line."""
        v = self.verdict
        return [
            f"flows       {v.flows}",
            f"completed   {v.completed}",
            f"kills       {self.kills}",
            f"terminated  {self.terminations} database sessions",
            f"lost        {v.lost}",
            f"failed      {v.failed}",
            f"stuck       {v.stuck}",
            f"wrong state {v.wrong_state}",
            f"duplicates  {v.duplicates} fan-in contributions",
            f"unknown     {self.unknown_creates} creates answered 503 (not counted as flows)",
            f"recovery    {self.recovery_seconds:.1f} s after the last kill",
            f"elapsed     {self.elapsed_seconds:.1f} s",
            *v.errors[:10],
        ]


async def _spawn(dsn: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dwarf._soak._replica",
        dsn,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), 60)
    return proc


async def _terminate_sessions(dsn: str) -> int:
    scheme = dsn.split(":", 1)[0]
    if scheme in {"postgresql", "postgres"}:
        import psycopg

        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
    raise SystemExit("--terminate-connections supports PostgreSQL only")


async def _create(engine: Engine, n: int) -> str | None:
    try:
        key = await engine.create(WORKFLOW, {"n": n})
    except UnavailableError:
        return None
    while True:
        try:
            await engine.start(key)
            return key
        except UnavailableError:
            await asyncio.sleep(0.1)
        except ConflictError:
            return key  # the first start committed before its connection dropped


async def _outcome(engine: Engine, key: str, deadline: float) -> FlowOutcome | None:
    loop = asyncio.get_running_loop()
    while True:
        remaining = deadline - loop.time()
        try:
            return await engine.poll(key, timeout=max(remaining, 0.0))
        except UnavailableError:
            if remaining <= 0:
                return None
            await asyncio.sleep(0.5)


async def soak(settings: Settings) -> Report:
    """Run one soak and return its report (the replicas are stopped either way)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    p = proxy()
    creator = Engine().with_dsn(settings.dsn).with_graph_loader(p.load_graph).with_workers(0)
    await creator.startup()  # migrates before the replicas race to
    replicas = [await _spawn(settings.dsn) for _ in range(settings.replicas)]
    kills = terminations = 0
    last_kill = loop.time()
    try:

        async def chaos() -> None:
            nonlocal kills, terminations, last_kill
            for _ in range(settings.kills):
                await asyncio.sleep(settings.kill_every)
                victim = replicas.pop(random.randrange(len(replicas)))
                victim.kill()
                await victim.wait()
                kills += 1
                last_kill = loop.time()
                if settings.terminate_connections:
                    terminations += await _terminate_sessions(settings.dsn)
                replicas.append(await _spawn(settings.dsn))

        chaos_task = asyncio.create_task(chaos())
        expected: dict[str, int] = {}
        unknown = 0
        pace = settings.kills * settings.kill_every / max(settings.flows, 1)
        for n in range(settings.flows):
            key = await _create(creator, n)
            if key is None:
                unknown += 1
            else:
                expected[key] = n
            await asyncio.sleep(pace)
        await chaos_task
        deadline = loop.time() + settings.settle
        outcomes = dict(
            zip(
                expected,
                await asyncio.gather(*(_outcome(creator, key, deadline) for key in expected)),
                strict=True,
            )
        )
        recovered = loop.time()
    finally:
        for proc in replicas:
            proc.terminate()
        for proc in replicas:
            await proc.wait()
        await creator.shutdown()
    return Report(
        verdict=verdict(expected, outcomes),
        kills=kills,
        terminations=terminations,
        unknown_creates=unknown,
        recovery_seconds=max(recovered - last_kill, 0.0),
        elapsed_seconds=loop.time() - began,
    )
