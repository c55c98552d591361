"""MySQL/MariaDB scripts: several generated statements sent as one query, in one round trip.

On MariaDB the server is the bottleneck, and a good part of what it spends on a short statement
is the round trip (waking its thread, reading and answering a packet), not the statement. A script
records what the generated accessors would send, each statement with its arguments escaped by
the connection exactly as asyncmy's text protocol escapes them for ``execute``, and sends the
lot as one multi-statement query (asyncmy connects with ``CLIENT.MULTI_STATEMENTS``). Each
statement commits on its own as it runs: the hot path's scripts are a write and the read of what
it did (a start and its entry step; a stored procedure's CALL, which runs its own transaction,
and the read of the answer it left in a user variable; storage.md S12b, S12c). The server stops
at the first statement that fails: nothing after it runs.

Hand-written because no driver or library does this: asyncmy runs one statement per
``execute`` and reads the results of a multi-statement query one ``nextset`` at a time. A
statement in a script cannot use the result of the one before it on the client; the SQL takes
it on the server instead (a user variable the CALL before it set): see
``sql/queries/mysql/fastpath.sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

__all__ = ["Outcome", "Script", "replay"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one statement of a script did: rows matched (or inserted, deleted), the id an
    INSERT generated (0 for any other statement), and the rows a SELECT answered, as the
    driver reads them (``replay`` turns them into the accessor's typed rows)."""

    rowcount: int
    lastrowid: int
    rows: Sequence[Any] = ()


class Script:
    """The statements of one query, recorded from the generated accessors, then run.

    It stands in for the connection the accessors take: ``await my.insert_step(script, ...)``
    records the INSERT and returns 0, as does every accessor given a script; the statements'
    real results come from ``run``, in the order they were recorded.
    """

    __slots__ = ("_conn", "_cursor", "_statements")

    def __init__(self, conn: Any) -> None:
        """A script to run on ``conn``, an asyncmy connection in autocommit mode."""
        self._conn = conn
        self._cursor = conn.cursor()
        self._statements: list[str] = []

    def cursor(self) -> _RecordingCursor:
        """A cursor that records each statement given to ``execute``."""
        return _RecordingCursor(self)

    def record(self, query: str, args: Sequence[object] | None) -> None:
        """Add ``query`` with ``args`` bound, as ``execute`` would send it."""
        self._statements.append(self._cursor.mogrify(query, args))

    async def run(self) -> list[Outcome]:
        """Send the statements as one query; each statement's outcome.

        A statement that fails stops the query there and its error is raised. Cancelled while
        it waits, the connection is closed, since its answer may still be on the way; a
        procedure that had not committed when the server noticed is rolled back.
        """
        cur = self._cursor
        try:
            await cur.execute(";\n".join(self._statements))
            outcomes = [await _outcome(cur)]
            while await cur.nextset():
                outcomes.append(await _outcome(cur))
            return outcomes
        except BaseException as exc:
            if not isinstance(exc, Exception):
                # Cancelled while the server may still answer: the connection cannot be reused.
                self._conn.close()
            raise


def replay(outcome: Outcome) -> _Replay:
    """A stand-in connection that answers one accessor call with ``outcome``'s rows.

    ``await my.get_entry_schedule(replay(outcome), flow_id=...)`` gives the row of a SELECT a
    script ran, converted by its accessor exactly as if the accessor had run it.
    """
    return _Replay(outcome)


async def _outcome(cur: Any) -> Outcome:
    """The current result of ``cur``: its counts, and its rows if it is a result set."""
    rows = await cur.fetchall() if cur.description else ()
    return Outcome(cur.rowcount, cur.lastrowid or 0, rows)


class _RecordingCursor:
    """The cursor a script hands the accessors: it records, it never talks to the server."""

    __slots__ = ("_script",)

    def __init__(self, script: Script) -> None:
        self._script = script

    @property
    def lastrowid(self) -> int:
        """Nothing ran yet: the id comes from ``Script.run``."""
        return 0

    async def execute(self, query: str, args: Sequence[object] | None = None) -> int:
        """Record the statement; its row count comes from ``Script.run``."""
        self._script.record(query, args)
        return 0

    async def fetchone(self) -> Any:
        """No row yet: ``replay`` the statement's outcome to read it."""
        return None

    async def fetchall(self) -> Sequence[Any]:
        """No rows yet: ``replay`` the statement's outcome to read them."""
        return ()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any, /) -> None:
        return None


class _Replay:
    """The connection ``replay`` returns: its cursor answers with an outcome, never the server."""

    __slots__ = ("_outcome",)

    def __init__(self, outcome: Outcome) -> None:
        self._outcome = outcome

    def cursor(self) -> _ReplayCursor:
        """A cursor holding the outcome."""
        return _ReplayCursor(self._outcome)


class _ReplayCursor:
    """Answers ``execute`` and the fetches with what a script's statement did."""

    __slots__ = ("_next", "_outcome")

    def __init__(self, outcome: Outcome) -> None:
        self._outcome = outcome
        self._next = 0

    @property
    def lastrowid(self) -> int:
        """The id the statement generated."""
        return self._outcome.lastrowid

    async def execute(self, query: str, args: Sequence[object] | None = None) -> int:
        """Nothing to send: the statement ran in the script; its row count."""
        return self._outcome.rowcount

    async def fetchone(self) -> Any:
        """The next row the statement answered, or None."""
        rows = self._outcome.rows
        if self._next >= len(rows):
            return None
        self._next += 1
        return rows[self._next - 1]

    async def fetchall(self) -> Sequence[Any]:
        """The rows the statement answered, from the next on."""
        rows = self._outcome.rows[self._next :]
        self._next = len(self._outcome.rows)
        return rows

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any, /) -> None:
        return None
