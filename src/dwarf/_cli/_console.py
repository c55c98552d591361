"""``dwarf console``: serve the web console (``dwarf._console``) with uvicorn.

Constraints:

- The console is an extra (``dwarf[console]``: Starlette, Jinja2, uvicorn): without it this
  command fails with one line naming the extra, and the rest of ``dwarf`` does not import it.
- Like ``dwarf flows``, it refuses a database whose schema is not current (an engine's startup
  would migrate it) and it runs no step.
- It binds 127.0.0.1 unless told otherwise; bound to 127.0.0.1 or localhost it also accepts only
  those ``Host`` headers (no DNS rebinding). It is read-only unless given a token, best through
  ``DWARF_CONSOLE_TOKEN`` (a ``--token`` is visible to ``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, Final

from dwarf._cli._common import DSN_HELP, EXIT_OK, UsageError, dsn_text, fail, positive
from dwarf._cli._operator import require_current_schemas
from dwarf._storage import parse_dsn
from dwarf.errors import BadRequestError

__all__ = ["TOKEN_ENV", "add_console_parser"]

TOKEN_ENV: Final = "DWARF_CONSOLE_TOKEN"

_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost"})

_DESCRIPTION: Final = f"""\
Serve the web console: flows (filters, search, paging, live refresh), a flow's timeline, diagram,
state and changes, shards, and actions (cancel, resume, restart, restart from a step, fork,
delete), each behind a confirmation. It runs no step: what an action makes pending is run by the
application's workers.

Security: it binds 127.0.0.1 by default, and is read-only unless started with a token
(--token, or better ${TOKEN_ENV}); an operator types the token at /login to be allowed actions,
each of which also needs the page's CSRF token. Needs the console extra: pip install
'dwarf[console]'. See docs/console.md.
"""


def add_console_parser(subparsers: Any) -> None:
    """Add ``console`` to the top-level parser."""
    parser = subparsers.add_parser(
        "console",
        help="serve the web console for operators",
        description=_DESCRIPTION,
        epilog=DSN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dsn", metavar="DSN", help="the database; default: $DWARF_DSN")
    parser.add_argument("--shards", type=positive, metavar="N", default=1, help="shards (1)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=positive, default=8080, help="port to bind (8080)")
    parser.add_argument(
        "--token",
        help=f"the token that allows actions (default: ${TOKEN_ENV}; none: read-only)",
    )
    parser.add_argument(
        "--graphs",
        metavar="MODULE:CALLABLE",
        help="the application's graph loader, to draw each workflow's graph",
    )
    parser.add_argument(
        "--refresh",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how often pages showing running flows refresh (3)",
    )
    parser.set_defaults(handler=run_console, parser=parser)


def run_console(args: argparse.Namespace) -> int:
    """``dwarf console``: check the schema, then serve until interrupted."""
    try:
        import uvicorn

        from dwarf._console import ConsoleSettings, create_app, load_graph_loader
    except ImportError as exc:
        return fail(f"dwarf console needs the console extra ({exc.name} is missing): "
                    "pip install 'dwarf[console]'")  # fmt: skip
    dsn = dsn_text(args)
    try:
        graph_loader = load_graph_loader(args.graphs) if args.graphs else None
    except BadRequestError as exc:
        raise UsageError(str(exc)) from None
    asyncio.run(require_current_schemas(args))
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV, "")
    loopback = args.host in _LOOPBACK
    settings = ConsoleSettings(
        dsn=dsn,
        shards=args.shards,
        token=token,
        graph_loader=graph_loader,
        allowed_hosts=tuple(sorted(_LOOPBACK)) if loopback else (),
        refresh_seconds=max(args.refresh, 0.5),
    )
    mode = "actions need the token" if token else "read-only (no token)"
    print(
        f"dwarf console on http://{args.host}:{args.port}/ over {parse_dsn(dsn).masked()}: {mode}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="warning",
        server_header=False,
    )
    return EXIT_OK
