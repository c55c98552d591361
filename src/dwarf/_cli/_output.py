"""How ``dwarf`` commands print: tables for people, JSON for machines, progress on a terminal.

Constraints:

- Output that is not a terminal is plain text: no colour codes, no box drawing, no wrapping
  and no trailing spaces, one row per line, so ``grep`` and ``awk`` can read it. On a terminal,
  rich draws the same table with a rule under the header.
- Cell text is never read as rich markup: an error message holding ``[x]`` prints as written.
- ``--json`` prints exactly one JSON document on stdout.
- A progress bar is drawn only when stdout is a terminal, and vanishes when the work ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

__all__ = ["duration", "print_json", "print_table", "progress", "timestamp"]

# Wide enough that no real row wraps when the output goes to a file or a pipe.
_PLAIN_WIDTH = 1_000_000


def _terminal() -> bool:
    return sys.stdout.isatty()


def print_json(document: Any) -> None:
    """Print ``document`` as one JSON line (datetimes as ISO 8601)."""
    print(json.dumps(document, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` under ``headers``: a rich table on a terminal, plain columns elsewhere."""
    table = Table(
        box=box.SIMPLE_HEAD if _terminal() else None,
        pad_edge=False,
        show_edge=False,
        header_style="bold" if _terminal() else "",
    )
    for header in headers:
        table.add_column(header, no_wrap=not _terminal(), overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    if _terminal():
        Console(highlight=False).print(table)
        return
    buffer = io.StringIO()
    Console(file=buffer, width=_PLAIN_WIDTH, color_system=None, highlight=False).print(table)
    for line in buffer.getvalue().splitlines():
        print(line.rstrip())


@contextlib.contextmanager
def progress(what: str, total: int) -> Iterator[Callable[[int], None]]:
    """A callback advancing a progress bar of ``total`` units (a no-op off a terminal)."""
    if not _terminal() or total <= 0:
        yield lambda done: None
        return
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.update(task, advance=done)


def timestamp(moment: datetime | None) -> str:
    """``moment`` in UTC to the second, or ``-``."""
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def duration(span: timedelta | None) -> str:
    """A short human duration (``850ms``, ``12.3s``, ``4m05s``, ``2h03m``) or ``-``."""
    if span is None:
        return "-"
    seconds = max(span.total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
