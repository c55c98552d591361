"""The ``dwarf`` command (also ``python -m dwarf._cli``).

Exit codes: 0 ok, 1 failure, 2 usage. Every failure is one line on stderr, with any password
masked; argparse's own errors are reduced to one line too. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import dwarf
from dwarf._cli._common import EXIT_FAILURE, EXIT_USAGE, UsageError, fail
from dwarf._cli._console import add_console_parser
from dwarf._cli._flows import add_flows_parser, add_shards_parser
from dwarf._cli._migrate import add_migrate_parser
from dwarf._cli._tasks import add_tasks_parser
from dwarf.errors import DwarfError

__all__ = ["main"]

_EPILOG = """\
Every command that reads a database takes --dsn (default: $DWARF_DSN) and --shards, prints a
table (plain text when stdout is not a terminal) or JSON with --json, and never prints a
password.

exit codes:
  0  ok
  1  failure: the database or the engine refused (unknown key, flow not interrupted...),
     with a one-line reason on stderr
  2  usage: a bad option, no DSN (--dsn or DWARF_DSN), malformed JSON in --data/--data-file
"""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one masked line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)", code=EXIT_USAGE)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The ``dwarf`` argument parser with all its commands."""
    parser = _Parser(
        prog="dwarf",
        description="dwarf: durable workflow orchestration for asyncio. Administrative commands.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dwarf {dwarf.__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    add_migrate_parser(commands)
    add_flows_parser(commands)
    add_shards_parser(commands)
    add_tasks_parser(commands)
    add_console_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line in ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    # asyncmy logs server notes (such as "table already exists") as warnings; the CLI's output
    # is its table and one-line errors, nothing else.
    logging.getLogger("asyncmy").setLevel(logging.ERROR)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    try:
        return int(args.handler(args))
    except UsageError as exc:
        return fail(f"{exc} (see {args.parser.prog} --help)", code=EXIT_USAGE, as_json=as_json)
    except DwarfError as exc:
        return fail(str(exc), as_json=as_json)
    except BrokenPipeError:
        # The reader went away (dwarf ... | head): stop quietly, and keep the interpreter's
        # final flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return fail("interrupted", code=130, as_json=as_json)
    except Exception as exc:  # a bug: still one line, still masked
        return fail(f"unexpected {type(exc).__name__}: {exc}", code=EXIT_FAILURE, as_json=as_json)


if __name__ == "__main__":
    sys.exit(main())
