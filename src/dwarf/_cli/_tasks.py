"""``dwarf tasks``: each protection key's circuit breaker and rate controls, as the database shows.

Constraints:

- It reads ``Engine.task_controls()`` of a fresh operator engine. Such an engine re-opens, at
  startup, the breaker of every task with steps parked by a trip (docs/internals/protection.md,
  reconstitution): that is the durable part of protection, and it is what this command reports.
  Rate valves, cuts, holds and static limits live in each application replica's memory; a
  separate process sees none of them, and says so rather than show numbers it cannot know.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Final

from dwarf._cli._common import DSN_HELP, EXIT_OK, add_target_options
from dwarf._cli._operator import operator_engine
from dwarf._cli._output import print_json, print_table, timestamp
from dwarf.engine import TaskControl

__all__ = ["add_tasks_parser"]

_DESCRIPTION: Final = """\
Show each task whose circuit breaker is open: the shards it is open on (its steps wait there,
parked, for the application's probes) and the next probe. Breakers are read from the steps parked
in the database. Rate valves, cuts and static limits live in each application replica's memory
and are not shown: ask the application (Engine.task_controls()).
"""


def add_tasks_parser(subparsers: Any) -> None:
    """Add ``tasks`` to the top-level parser."""
    parser = subparsers.add_parser(
        "tasks",
        help="show the tasks whose circuit breaker is open",
        description=_DESCRIPTION,
        epilog=DSN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_options(parser)
    parser.set_defaults(handler=_run_tasks, parser=parser)


def _run_tasks(args: argparse.Namespace) -> int:
    return asyncio.run(_tasks(args))


async def _tasks(args: argparse.Namespace) -> int:
    async with operator_engine(args) as engine:
        controls = engine.task_controls()
    if args.json:
        print_json({"ok": True, "tasks": [_control_json(c) for c in controls]})
        return EXIT_OK
    if not controls:
        print("no breaker is open: no task has steps parked")
        return EXIT_OK
    print_table(
        ("KEY", "TASKS", "BREAKER", "NEXT PROBE"),
        [
            (
                c.key,
                ", ".join(c.tasks) or "-",
                _breaker_text(c),
                timestamp(c.next_probe_at),
            )
            for c in controls
        ],
    )
    return EXIT_OK


def _breaker_text(control: TaskControl) -> str:
    """``open on shards 1, 3`` or ``closed``."""
    shards = control.breaker_open_shards
    if not shards:
        return "closed"
    return f"open on shard{'s' if len(shards) > 1 else ''} {', '.join(map(str, shards))}"


def _control_json(control: TaskControl) -> dict[str, Any]:
    """One key's state as JSON."""
    return {
        "key": control.key,
        "tasks": list(control.tasks),
        "breaker_open": control.breaker_open,
        "breaker_open_shards": list(control.breaker_open_shards),
        "next_probe_at": control.next_probe_at.isoformat() if control.next_probe_at else None,
    }
