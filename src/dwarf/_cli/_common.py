"""What every ``dwarf`` command shares: exit codes, one-line failures, the database options.

Constraints:

- One line on stderr per failure, and never a password: messages come from masked DSNs, and
  anything that looks like a URL is masked again on the way out.
- Exit codes: 0 ok; 1 failure (the database or the engine refused, an unknown key); 2 usage
  (a bad option, no DSN, an unparsable DSN, malformed JSON input).
- The database comes from ``--dsn`` or, failing that, the ``DWARF_DSN`` environment variable, so
  a password need not appear on a command line (where ``ps`` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, Final

from dwarf._storage._dsn import Dsn, mask_dsn, shard_dsns
from dwarf.errors import BadRequestError

__all__ = [
    "DSN_ENV",
    "DSN_HELP",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "add_target_options",
    "dsn_text",
    "fail",
    "mask_text",
    "positive",
    "target_dsns",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2

DSN_ENV: Final = "DWARF_DSN"

DSN_HELP: Final = """\
DSNs: postgresql://user:password@host:5432/db, mysql://... (or mariadb://), sqlite:///rel.db,
sqlite:////abs/path.db, mssql://... (SQL Server, untested: no server here). With --shards N > 1
the DSN must contain %d, replaced by the shard number 1..N (postgresql://u:p@h/dwarf_%d).
Without --dsn, the DSN is read from the DWARF_DSN environment variable.

exit codes: 0 ok, 1 failure, 2 usage error. Passwords are never printed.
"""

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


class UsageError(Exception):
    """Bad command-line input: exit 2."""


def mask_text(text: str) -> str:
    """``text`` with every URL-looking token's password masked."""
    return _URL.sub(lambda m: mask_dsn(m.group()), text)


def fail(message: str, *, code: int = EXIT_FAILURE, as_json: bool = False) -> int:
    """Print the one-line failure (and a JSON object with ``--json``); return the exit code."""
    line = " ".join(mask_text(message).split())
    if as_json:
        print(json.dumps({"ok": False, "error": line}))
    print(f"dwarf: error: {line}", file=sys.stderr)
    return code


def positive(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return int(text)


def add_target_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """``--dsn``, ``--shards`` and ``--json``.

    With ``suppress`` the defaults are ``SUPPRESS``: a subcommand repeating the options then does
    not overwrite a value given before it (``dwarf migrate --dsn X status``).
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--dsn",
        metavar="DSN",
        default=default(None),
        help=f"the database (see below); default: ${DSN_ENV}",
    )
    parser.add_argument(
        "--shards",
        type=positive,
        metavar="N",
        default=default(1),
        help="number of shards; N > 1 needs %%d in the DSN (default 1)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON for machines"
    )


def dsn_text(args: argparse.Namespace) -> str:
    """The DSN from ``--dsn`` or ``$DWARF_DSN``; neither is a usage error."""
    text: str = args.dsn or os.environ.get(DSN_ENV, "")
    if not text:
        raise UsageError(f"no database: give --dsn or set {DSN_ENV}")
    return text


def target_dsns(args: argparse.Namespace) -> list[Dsn]:
    """Every shard's parsed DSN; an unparsable DSN or a missing ``%d`` is a usage error."""
    try:
        return shard_dsns(dsn_text(args), args.shards)
    except BadRequestError as exc:
        raise UsageError(str(exc)) from None
