"""``dwarf flows cancel|resume|restart|restart-from|fork|delete|purge``: change flows.

Constraints:

- The operator engine never runs what these make pending: the application's replicas do, at
  their next poll (at once when they share a peer notifier).
- ``purge`` counts first (``--dry-run`` stops there), asks before deleting unless ``--yes``, and
  refuses to delete without ``--yes`` when nobody can answer (stdin not a terminal). It deletes
  shard by shard in batches, so a progress bar can follow it and ``--limit`` is exact.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Final

from dwarf._cli._common import EXIT_FAILURE, EXIT_OK, UsageError
from dwarf._cli._inspect import query_of
from dwarf._cli._operator import data_of, operator_engine
from dwarf._cli._output import print_json, progress
from dwarf.engine import Engine
from dwarf.workflow import Query, Status

__all__ = ["ACTIONS", "run_purge"]

_PURGE_BATCH: Final = 1000
_COUNT_PAGE: Final = 1000

Action = Callable[[Engine, argparse.Namespace], Awaitable[str | None]]


async def _cancel(engine: Engine, args: argparse.Namespace) -> str | None:
    await engine.cancel(args.key, args.reason)
    return None


async def _resume(engine: Engine, args: argparse.Namespace) -> str | None:
    await engine.resume(args.key, args.payload)
    return None


async def _restart(engine: Engine, args: argparse.Namespace) -> str | None:
    await engine.restart(args.key, args.payload)
    return None


async def _restart_from(engine: Engine, args: argparse.Namespace) -> str | None:
    await engine.restart_from(args.key, args.payload)
    return None


async def _fork(engine: Engine, args: argparse.Namespace) -> str | None:
    return await engine.fork(args.key, args.payload)


async def _delete(engine: Engine, args: argparse.Namespace) -> str | None:
    await engine.delete(args.key)
    return None


ACTIONS: Final[dict[str, tuple[Action, str]]] = {
    "cancel": (_cancel, "cancelled"),
    "resume": (_resume, "resumed"),
    "restart": (_restart, "restarted"),
    "restart-from": (_restart_from, "restarting from"),
    "fork": (_fork, "forked"),
    "delete": (_delete, "deleted"),
}
"""Each single-flow command: the engine call (returning a new flow's key, if any) and its verb."""


def run_action(args: argparse.Namespace) -> int:
    """Run the single-flow command ``args.action`` on ``args.key``."""
    action, verb = ACTIONS[args.action]
    # Malformed JSON is a usage error found before connecting; stdin (--data-file -) is read once.
    args.payload = data_of(args) if hasattr(args, "data") else None
    new_key = asyncio.run(_act(action, args))
    if args.json:
        document = {"ok": True, "action": args.action, "key": args.key}
        if new_key is not None:
            document["flow_key"] = new_key
        print_json(document)
    elif new_key is not None:
        print(f"{verb} {args.key}: new flow {new_key}")
    else:
        print(f"{verb} {args.key}")
    return EXIT_OK


async def _act(action: Action, args: argparse.Namespace) -> str | None:
    async with operator_engine(args) as engine:
        return await action(engine, args)


def run_purge(args: argparse.Namespace) -> int:
    """``dwarf flows purge``."""
    if not (args.status or args.workflow or args.older_than is not None):
        raise UsageError("purge needs --status, --workflow or --older-than")
    if args.status == Status.RUNNING:
        raise UsageError("running flows are never purged: cancel them first")
    if not (args.dry_run or args.yes or sys.stdin.isatty()):
        raise UsageError("purge asks before deleting: pass --yes when stdin is not a terminal")
    return asyncio.run(_purge(args))


async def _purge(args: argparse.Namespace) -> int:
    query = query_of(args)
    async with operator_engine(args) as engine:
        count = await _count(engine, query)
        if args.limit:
            count = min(count, args.limit)
        if args.dry_run:
            _report(args, count, dry_run=True)
            return EXIT_OK
        if count == 0:
            _report(args, 0, dry_run=False)
            return EXIT_OK
        if not args.yes and not _confirm(count):
            print("purge: nothing deleted", file=sys.stderr)
            return EXIT_FAILURE
        bar = 0 if args.json else args.limit or count
        deleted = await _delete_in_batches(engine, query, args.limit or count, args.shards, bar)
    _report(args, deleted, dry_run=False)
    return EXIT_OK


async def _count(engine: Engine, query: Query) -> int:
    """How many flows ``purge(query)`` would delete: the matching flows that are not running."""
    count, cursor = 0, ""
    while True:
        page, cursor = await engine.list_flows(
            query.model_copy(update={"cursor": cursor, "limit": _COUNT_PAGE})
        )
        count += sum(1 for flow in page if flow.status is not Status.RUNNING)
        if not cursor:
            return count


def _confirm(count: int) -> bool:
    answer = input(f"delete {count} flow{'s' if count != 1 else ''} and their steps? [y/N] ")
    return answer.strip().lower() in {"y", "yes"}


async def _delete_in_batches(
    engine: Engine, query: Query, most: int, num_shards: int, bar_total: int
) -> int:
    shards = [query.shard] if query.shard else range(1, num_shards + 1)
    deleted = 0
    with progress("purging", bar_total) as advance:
        for shard in shards:
            while deleted < most:
                batch = min(_PURGE_BATCH, most - deleted)
                done = await engine.purge(query.model_copy(update={"shard": shard, "limit": batch}))
                deleted += done
                advance(done)
                if done == 0:
                    break
    return deleted


def _report(args: argparse.Namespace, count: int, *, dry_run: bool) -> None:
    if args.json:
        print_json({"ok": True, "dry_run": dry_run, "flows": count})
    elif dry_run:
        print(f"would delete {count} flow{'s' if count != 1 else ''} (dry run: nothing deleted)")
    else:
        print(f"deleted {count} flow{'s' if count != 1 else ''}")
