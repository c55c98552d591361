"""Render ``tx.py``: ``Tx``, one dialect's accessors bound to one connection.

``Queries`` is what a dialect module is; ``Tx`` is what a caller holding a connection wants: the
same methods without the connection argument, so the engine can hand a unit of work one typed
object instead of a module and an untyped connection to thread through every call. Each method
forwards by keyword to the module's accessor, so ``Tx`` adds one call and nothing else; its
members, params, return types and docstrings are those of ``Queries`` (fast paths are not
portable, so they stay on the dialect's own protocol).
"""

from __future__ import annotations

from collections.abc import Mapping

from codegen._emit import Header
from codegen._model import Query
from codegen._protocol import members

_MODULE_DOC = (
    '"""``Tx``: a connection bound to one dialect\'s accessors (``Queries``).\n'
    "\n"
    "``tx = Tx(sqlite, conn)`` then ``await tx.get_flow_by_id(flow_id=1)``: the methods of"
    " ``Queries``\n"
    "with the connection taken from the ``Tx``. ``Tx`` neither begins nor commits: the caller"
    " owns the\n"
    "connection's transaction.\n"
    '"""'
)

_CLASS = '''

class Tx:
    """The accessors of ``Queries`` bound to one connection of that dialect."""

    __slots__ = ("_conn", "_queries")

    def __init__(self, queries: Queries, conn: object) -> None:
        """Bind ``conn``, a connection of the dialect ``queries`` implements."""
        self._queries = queries
        self._conn = conn
'''


def render_tx(reference: Mapping[str, Query], header: Header) -> str:
    """Source of ``tx.py``."""
    bound = members(reference, portable_only=True)
    # no names from typing: Tx is a plain class and its annotations name no Any
    imports = [*bound.imports(""), "from dwarf._storage._gen.queries import Queries"]
    out = [
        header.lines("sql/queries"),
        _MODULE_DOC,
        "\n\n",
        "\n".join(imports),
        "\n\n",
        '__all__ = ["Tx"]\n',
        _CLASS,
    ]
    for m in bound.by_query.values():
        call = f"self._queries.{m.name}(self._conn{', ' + m.forward if m.forward else ''})"
        # an accessor returning None is awaited, not returned (mypy: func-returns-value)
        body = f"await {call}" if m.result == "None" else f"return await {call}"
        out.append(f"\n{m.signature('self')}{m.doc}        {body}\n")
    return "".join(out)
