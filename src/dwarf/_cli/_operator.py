"""The operator engine the ``flows`` and ``shards`` commands act through, and their input parsing.

Constraints:

- The engine is the public one (``dwarf.new_engine()``) with ``with_workers(0)``: it starts no
  dispatcher, so operating on flows never claims or runs a step, and it needs neither the
  host's graph loader nor its task executor (operations use each flow's frozen graph). Steps a
  command makes pending (``resume``, ``restart``...) are run by the application's own replicas.
- Opening a database changes nothing in it: an engine's startup applies pending migrations, so
  each shard's schema is checked first, and one that is not at this dwarf's version (an empty
  or mistyped database, an older or newer schema) is refused with a hint to ``dwarf migrate``.
- Malformed input is a usage error (exit 2) named after its option, before any connection.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import dwarf
from dwarf._cli._common import UsageError, dsn_text, target_dsns
from dwarf._migrate import MigrationState, Migrator
from dwarf._storage._dsn import Dsn
from dwarf.engine import Engine
from dwarf.errors import ConflictError

__all__ = [
    "add_data_options",
    "data_of",
    "duration_arg",
    "operator_engine",
    "require_current_schemas",
]

# A command-line tool holds few connections at once: it runs one operation at a time.
_CONNECTIONS: Final = 2

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@contextlib.asynccontextmanager
async def operator_engine(args: argparse.Namespace) -> AsyncIterator[Engine]:
    """A started engine on ``--dsn``/``--shards`` that dispatches nothing."""
    await require_current_schemas(args)
    engine = (
        dwarf.new_engine()
        .with_dsn(dsn_text(args))
        .with_num_shards(args.shards)
        .with_workers(0)
        .with_max_open_conns(_CONNECTIONS)
    )
    async with engine:
        yield engine


async def require_current_schemas(args: argparse.Namespace) -> None:
    """Refuse (``ConflictError``) a shard whose schema is not at this dwarf's version."""
    dsns = target_dsns(args)  # an unusable DSN is a usage error, reported before connecting
    for shard, dsn in enumerate(dsns, start=1):
        await _require_current_schema(shard, dsn)


async def _require_current_schema(shard: int, dsn: Dsn) -> None:
    async with Migrator(dsn) as migrator:
        states = await migrator.status()
    behind = [state for state in states if state.state is not MigrationState.APPLIED]
    if behind:
        listed = ", ".join(f"{state.version} {state.state}" for state in behind)
        raise ConflictError(
            f"shard {shard} ({dsn.masked()}): the schema is not at this dwarf's version "
            f"(migrations {listed}): see dwarf migrate status, then run dwarf migrate"
        )


def duration_arg(text: str) -> timedelta:
    """An argparse type: ``90``, ``90s``, ``15m``, ``2h``, ``7d`` or ``250ms``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"must be a duration such as 90s, 15m, 2h or 7d, got {text!r}"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"])


def add_data_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--data JSON`` or ``--data-file PATH`` (``-`` reads stdin): a JSON object."""
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--data", metavar="JSON", help=f"{what}, as a JSON object")
    given.add_argument(
        "--data-file", metavar="PATH", help=f"read the {what} from a JSON file (- for stdin)"
    )


def data_of(args: argparse.Namespace) -> dict[str, Any] | None:
    """The JSON object of ``--data``/``--data-file``, or None; malformed input is a usage error."""
    if args.data is not None:
        option, text = "--data", args.data
    elif args.data_file is not None:
        option = "--data-file"
        try:
            text = sys.stdin.read() if args.data_file == "-" else Path(args.data_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise UsageError(f"{option}: cannot read {args.data_file}: {reason}") from None
    else:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{option} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value
