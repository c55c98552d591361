"""``dwarf flows ...`` and ``dwarf shards``: the parsers (the work: ``_inspect``, ``_actions``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from typing import Any, Final

from dwarf._cli._actions import run_action, run_purge
from dwarf._cli._common import (
    DSN_HELP,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_target_options,
    fail,
    positive,
)
from dwarf._cli._inspect import run_history, run_list, run_mermaid, run_show
from dwarf._cli._operator import add_data_options, duration_arg, operator_engine
from dwarf._cli._output import print_json, print_table
from dwarf.workflow import Status

__all__ = ["add_flows_parser", "add_shards_parser"]

_FORMATTER: Final = argparse.RawDescriptionHelpFormatter

_STATUSES: Final = [status.value for status in Status]

_DATA_HELP: Final = (
    "--data/--data-file must hold a JSON object; malformed JSON, or JSON that is not an object, "
    "is a usage error (exit 2) and nothing is changed."
)

_DESCRIPTION: Final = """\
Inspect and operate on flows. These commands act through an engine that runs no step (it needs
neither the application's graph loader nor its task executor): what they make pending (resume,
restart, restart-from, fork) is run by the application's replicas, at their next poll.
"""

_EPILOG: Final = f"""\
{DSN_HELP}
examples:
  export DWARF_DSN='postgresql://dwarf:secret@db:5432/dwarf'
  dwarf flows list --status failed --older-than 2h
  dwarf flows show 1-42-9f3c2a0b7d1e4c55
  dwarf flows resume 1-42-9f3c2a0b7d1e4c55 --data '{{"approved": true}}'
  dwarf flows purge --status completed --older-than 30d --dry-run
"""


def add_flows_parser(subparsers: Any) -> None:
    """Add ``flows`` and its commands to the top-level parser."""
    flows = subparsers.add_parser(
        "flows",
        help="list, inspect and operate on flows",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=_FORMATTER,
    )
    flows.set_defaults(handler=lambda args: _missing(flows), parser=flows)
    commands = flows.add_subparsers(title="commands", dest="action", metavar="COMMAND")

    def command(name: str, help_text: str, description: str = "") -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help_text,
            # Raw formatting keeps the epilog's layout, so wrap the description here.
            description=textwrap.fill(description or help_text[0].upper() + help_text[1:] + "."),
            epilog=DSN_HELP,
            formatter_class=_FORMATTER,
        )
        add_target_options(parser)
        parser.set_defaults(parser=parser)
        return parser

    listing = command(
        "list",
        "list root flows, newest first, with filters and paging",
        "List root flows, newest first. Filters combine; a page holds --limit flows (default "
        "100) and ends with 'more: --cursor C' when there is more (--all follows the cursors).",
    )
    _filters(listing, every=True)
    listing.add_argument("--cursor", metavar="C", help="continue after the page that gave C")
    listing.add_argument("--limit", type=positive, metavar="N", help="page size (default 100)")
    listing.add_argument("--all", action="store_true", help="follow the cursor to the last page")
    listing.set_defaults(handler=run_list)

    for name, handler, what in (
        ("show", run_show, "show a flow's status, state, error and timings"),
        ("history", run_history, "show a flow's steps: attempts, durations, changes, errors"),
        ("mermaid", run_mermaid, "print a Mermaid flowchart of what a flow ran"),
    ):
        parser = command(name, what)
        parser.add_argument("key", metavar="KEY", help="the flow's key")
        parser.set_defaults(handler=handler)

    cancel = command("cancel", "cancel a created, running or interrupted flow")
    cancel.add_argument("key", metavar="KEY", help="the flow's key")
    cancel.add_argument("--reason", default="", help="why (shown by show and list)")

    resume = command(
        "resume",
        "resume an interrupted flow",
        "Resume an interrupted flow: its task's interrupt() returns the resume data. " + _DATA_HELP,
    )
    resume.add_argument("key", metavar="KEY", help="the flow's key")
    add_data_options(resume, "resume data")

    for name, target, what in (
        ("restart", "flow", "re-run a stopped flow from its entry step"),
        ("restart-from", "step", "re-run a stopped flow from one of its steps (see history)"),
        ("fork", "step", "start a new flow re-running from a copy of a step; prints its key"),
    ):
        parser = command(name, what, what[0].upper() + what[1:] + ". " + _DATA_HELP)
        parser.add_argument("key", metavar="KEY", help=f"the {target}'s key")
        add_data_options(parser, "state overrides")
    delete = command("delete", "delete a flow that is not running, with its steps")
    delete.add_argument("key", metavar="KEY", help="the flow's key")
    for name in ("cancel", "resume", "restart", "restart-from", "fork", "delete"):
        commands.choices[name].set_defaults(handler=run_action)

    purge = command(
        "purge",
        "delete the stopped root flows matching filters",
        "Delete root flows that are not running and match every filter given (at least one of "
        "--status, --workflow, --older-than). Counts them first and asks before deleting; "
        "--dry-run only counts; --yes skips the question (required when stdin is not a "
        "terminal). Answering no exits 1.",
    )
    _filters(purge, every=False)
    purge.add_argument("--limit", type=positive, metavar="N", help="delete at most N flows")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    purge.add_argument("--yes", "-y", action="store_true", help="do not ask before deleting")
    purge.set_defaults(handler=run_purge)


def _filters(parser: argparse.ArgumentParser, *, every: bool) -> None:
    parser.add_argument("--status", choices=_STATUSES, help="only flows with this status")
    parser.add_argument("--workflow", metavar="NAME", help="only flows of this workflow")
    parser.add_argument(
        "--older-than",
        type=duration_arg,
        metavar="AGE",
        help="only flows last updated longer ago than AGE (90s, 15m, 2h, 7d)",
    )
    parser.add_argument("--shard", type=positive, metavar="N", help="only shard N")
    if not every:
        return
    parser.add_argument("--newer-than", type=duration_arg, metavar="AGE", help="updated within AGE")
    parser.add_argument("--thread", metavar="KEY", help="only flows of this thread")
    parser.add_argument("--task", metavar="NAME", help="only flows whose current step runs NAME")
    parser.add_argument("--fairness-key", metavar="KEY", help="only flows with this fairness key")
    parser.add_argument("--priority", type=positive, metavar="P", help="only flows of priority P")
    parser.add_argument(
        "--search", metavar="TEXT", help="substring of the workflow, task, error, reason or key"
    )


def _missing(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def add_shards_parser(subparsers: Any) -> None:
    """Add ``shards``: each shard's reachability, latency and size."""
    shards = subparsers.add_parser(
        "shards",
        help="show each shard's latency, flows and steps",
        description="Show each shard's round-trip latency and how many flows and steps it holds. "
        "Exits 1 if a shard cannot be reached (the others are still shown).",
        epilog=DSN_HELP,
        formatter_class=_FORMATTER,
    )
    add_target_options(shards)
    shards.set_defaults(handler=_run_shards, parser=shards)


def _run_shards(args: argparse.Namespace) -> int:
    return asyncio.run(_shards(args))


async def _shards(args: argparse.Namespace) -> int:
    async with operator_engine(args) as engine:
        found = await engine.shard_info()
    ok = not any(shard.error for shard in found)
    if args.json:
        print_json(
            {
                "ok": ok,
                "shards": [
                    {
                        "shard": s.shard,
                        "latency_ms": round(s.latency_ms, 3),
                        "flows": s.flows,
                        "steps": s.steps,
                        "error": s.error or None,
                    }
                    for s in found
                ],
            }
        )
    else:
        print_table(
            ("SHARD", "LATENCY", "FLOWS", "STEPS", "ERROR"),
            [
                (str(s.shard), f"{s.latency_ms:.1f}ms", str(s.flows), str(s.steps), s.error)
                for s in found
            ],
        )
    for s in found:
        if s.error:
            fail(f"shard {s.shard}: {s.error}")
    return EXIT_OK if ok else EXIT_FAILURE
