"""MySQL/MariaDB scripts: several generated statements sent as one query, in one round trip.

On MariaDB the server is the bottleneck, and a good part of what it spends on a short statement
is the round trip (waking its thread, reading and answering a packet), not the statement. A script
records what the generated accessors would send, each statement with its arguments escaped by
the connection exactly as asyncmy's text protocol escapes them for ``execute``, and sends the
lot, wrapped in BEGIN and COMMIT, as one multi-statement query (asyncmy connects with
``CLIENT.MULTI_STATEMENTS``). The server stops at the first statement that fails, so nothing
after it runs, the COMMIT included; the script then rolls the transaction back. A script whose
COMMIT depends on what its statements matched sends the COMMIT (or ROLLBACK) after reading
them: two round trips. A script without a transaction sends its statements alone, each
committing as it runs (a write, and a read of what it wrote).

Hand-written because no driver or library does this: asyncmy runs one statement per
``execute`` and reads the results of a multi-statement query one ``nextset`` at a time. A
statement in a script cannot use the result of the one before it on the client; the SQL takes
it on the server instead (``LAST_INSERT_ID()``, guards on the rows the statement before it
wrote): see ``sql/queries/mysql/fastpath.sql`` and storage.md S12b.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
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
    """The statements of one query (a transaction, unless made without), recorded from the
    generated accessors, then run.

    It stands in for the connection the accessors take: ``await my.insert_step(script, ...)``
    records the INSERT and returns 0, as does every accessor given a script; the statements'
    real results come from ``run``, in the order they were recorded.
    """

    __slots__ = ("_conn", "_cursor", "_statements", "_transaction")

    def __init__(self, conn: Any, *, transaction: bool = True) -> None:
        """A script to run on ``conn``, an asyncmy connection in autocommit mode.

        Without ``transaction`` its statements go without BEGIN and COMMIT, each committed on
        its own as it runs: for statements that need no atomicity together (a write and a read
        of what it wrote).
        """
        self._conn = conn
        self._cursor = conn.cursor()
        self._statements: list[str] = []
        self._transaction = transaction

    def cursor(self) -> _RecordingCursor:
        """A cursor that records each statement given to ``execute``."""
        return _RecordingCursor(self)

    def record(self, query: str, args: Sequence[object] | None) -> None:
        """Add ``query`` with ``args`` bound, as ``execute`` would send it."""
        self._statements.append(self._cursor.mogrify(query, args))

    async def run(self, keep: Callable[[list[Outcome]], bool] | None = None) -> list[Outcome]:
        """Send BEGIN, the statements and COMMIT as one query; each statement's outcome.

        A script made without a transaction sends its statements alone. With ``keep``, the
        COMMIT waits for the outcomes, one more round trip: the transaction commits when
        ``keep(outcomes)`` holds and rolls back otherwise (outcomes returned either way). A
        statement that fails stops the query before the COMMIT: the transaction is rolled back
        and the error raised. Cancelled while it waits, the connection is closed (its answer
        may still be on the way), which rolls the transaction back on the server unless the
        server had run its COMMIT already.
        """
        if keep is not None and not self._transaction:
            raise ValueError("keep decides a COMMIT: a script without a transaction has none")
        opening = ["BEGIN"] if self._transaction else []
        closing = ["COMMIT"] if self._transaction and keep is None else []
        text = ";\n".join([*opening, *self._statements, *closing])
        cur = self._cursor
        try:
            await cur.execute(text)
            results = [await _outcome(cur)]
            while await cur.nextset():
                results.append(await _outcome(cur))
            outcomes = results[len(opening) : len(results) - len(closing)]
            if keep is not None:
                if keep(outcomes):
                    await self._conn.commit()
                else:
                    await self._conn.rollback()
            return outcomes
        except Exception:
            if self._transaction:
                with contextlib.suppress(Exception):
                    await self._conn.rollback()
            raise
        except BaseException:
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
