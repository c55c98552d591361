"""The database server's CPU time over a benchmark round, read from ``/proc`` when it runs here.

A dialect whose server is the bottleneck (MariaDB, docs/benchmarks.md) moves with the server's
CPU per flow more than with the client's, and CPU time moves much less with the VM's speed than
wall-clock throughput does: an A/B that prints both can tell a change in the server's work from
the machine's drift. Only a server on this host can be measured (the DSN's host is loopback and
its processes are visible); otherwise the figure is absent.

The sum covers every process of the server (PostgreSQL: the backends, the WAL writer and the
checkpointer too); one started during the round counts from its start, and one that exits
during the round takes its CPU time with it, so the figure is a lower bound. Hand-written: two
fields of ``/proc/<pid>/stat`` need no library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["ServerCpu"]

PROCESS_NAMES: Mapping[str, frozenset[str]] = {
    "postgresql": frozenset({"postgres"}),
    "mysql": frozenset({"mariadbd", "mysqld"}),
}
"""The server processes' names (``comm``) per dialect; SQLite runs in the benchmark's process."""

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", ""})

_PROC = Path("/proc")


class ServerCpu:
    """Snapshots of the CPU time of the dialect's server processes on this host."""

    def __init__(self, dialect: str, dsn: str) -> None:
        names = PROCESS_NAMES.get(dialect)
        local = (urlsplit(dsn).hostname or "") in LOCAL_HOSTS
        self._names = names if names and local and _PROC.is_dir() else None
        self._ticks = os.sysconf("SC_CLK_TCK") if self._names else 1

    def snapshot(self) -> dict[int, int] | None:
        """Each server process's CPU time so far, in clock ticks, by pid; None: not measurable."""
        if self._names is None:
            return None
        found: dict[int, int] = {}
        for entry in _PROC.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone since the listing
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            if name in self._names:
                fields = stat[stat.rindex(")") + 2 :].split()
                found[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime
        return found or None

    def seconds(self, before: dict[int, int] | None, after: dict[int, int] | None) -> float | None:
        """CPU seconds the server spent between two snapshots (None when either is missing)."""
        if before is None or after is None:
            return None
        ticks = sum(total - before.get(pid, 0) for pid, total in after.items())
        return ticks / self._ticks
