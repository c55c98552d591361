"""Render ``queries.py``: the ``Queries`` protocol every dialect's accessor module satisfies.

The engine holds one dialect's module per shard but must be typed against all of them. A module
object conforms to a ``Protocol`` structurally (mypy checks modules against protocols), so the
protocol lists each accessor with the reference's keyword-only params and return type and an
``Any`` connection: each dialect module keeps its precise driver type, and a signature drift in
any one of them is a type error wherever that module is used as ``Queries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from codegen._domain import row_classes
from codegen._emit import Header, docstring, return_annotation
from codegen._model import Query
from codegen._parity import snake
from codegen._sqltext import Dialect

_MODULE_DOC = (
    '"""The accessor interface shared by every dialect module'
    " (postgresql, mysql, sqlite, sqlserver).\n"
    "\n"
    "Each dialect module, as a module object, is a ``Queries``: ``q: Queries = postgresql``"
    " type-checks;\n"
    "a dialect's fast paths (optional queries) form its own protocol, e.g.\n"
    "``PostgresqlFastPaths``.\n"
    "Methods take the dialect's connection first (``Any`` here; the module types it precisely),"
    " then\n"
    "the keyword-only params of the query. Rows come from ``dwarf._storage._gen.rows``.\n"
    '"""'
)


def fast_paths_class(dialect: str) -> str:
    """``PostgresqlFastPaths`` for ``postgresql``: the protocol of one dialect's fast paths."""
    return f"{dialect.capitalize()}FastPaths"


@dataclass(frozen=True, slots=True)
class Member:
    """One ``Queries`` method as text: what ``queries.py`` declares and ``tx.py`` forwards."""

    name: str  # snake_case, as in every dialect module
    params: str  # the keyword-only params, e.g. ``flow_id: int, step_ids: Sequence[int]``
    forward: str  # the same params passed on by keyword, e.g. ``flow_id=flow_id``
    result: str  # the return annotation
    doc: str  # the method's docstring, indented for a class body

    def signature(self, head: str) -> str:
        """``async def name(<head>, *, params) -> result:``."""
        params = f", *, {self.params}" if self.params else ""
        return f"    async def {self.name}({head}{params}) -> {self.result}:\n"


@dataclass(slots=True)
class Members:
    """The methods of the protocol, by query name, and the imports their annotations need."""

    by_query: dict[str, Member] = field(default_factory=dict)
    rows_used: set[str] = field(default_factory=set)
    needs_sequence: bool = False
    needs_datetime: bool = False
    needs_status: bool = False

    def imports(self, typing: str) -> list[str]:
        """Import lines for the annotations, ``typing`` being what to take from ``typing``.

        The list ends in the first-party section, so a caller may append its own imports there.
        """
        lines = ["from __future__ import annotations", ""]
        if self.needs_sequence:
            lines.append("from collections.abc import Sequence")
        if self.needs_datetime:
            lines.append("from datetime import datetime")
        if typing:
            lines.append(f"from typing import {typing}")
        lines.append("")
        if self.rows_used:
            names = ", ".join(sorted(self.rows_used))
            lines.append(f"from dwarf._storage._gen.rows import {names}")
        if self.needs_status:
            lines.append("from dwarf.workflow import Status")
        return lines


def members(reference: Mapping[str, Query], *, portable_only: bool = False) -> Members:
    """The queries of ``reference`` (without fast paths if ``portable_only``) as methods, sorted.

    Row classes are named from the whole reference, so they match ``rows.py`` either way.
    """
    classes = row_classes(reference)
    out = Members()
    for name in sorted(reference):
        if portable_only and reference[name].optional:
            continue
        query = reference[name]
        result = return_annotation(query, classes)
        if query.name in classes and classes[query.name] in result:
            out.rows_used.add(classes[query.name])
        out.needs_datetime = out.needs_datetime or "datetime" in result
        out.needs_sequence = out.needs_sequence or any(p.is_list for p in query.params)
        params = ", ".join(f"{p.name}: {p.annotation}" for p in query.params)
        out.needs_status = out.needs_status or "Status" in f"{params} {result}"
        kind = "insert-id" if query.returns_insert_id else query.kind
        out.by_query[name] = Member(
            name=snake(query.name),
            params=params,
            forward=", ".join(f"{p.name}={p.name}" for p in query.params),
            result=result,
            doc=docstring(f"{query.name} ({kind}).", query.comments, "        "),
        )
    return out


def render_protocol(
    reference: Mapping[str, Query], fast_paths: Mapping[Dialect, Sequence[str]], header: Header
) -> str:
    """Source of ``queries.py``: ``Queries`` (every dialect) and each dialect's fast paths."""
    declared = members(reference)
    methods = {
        name: f"{m.signature('self, conn: Any')}{m.doc}        ...\n"
        for name, m in declared.by_query.items()
    }
    imports = declared.imports("Any, Protocol")
    protocols = [fast_paths_class(d) for d, names in fast_paths.items() if names]
    out = [
        header.lines("sql/queries"),
        _MODULE_DOC,
        "\n\n",
        "\n".join(imports),
        "\n\n",
        f"__all__ = {sorted([*protocols, 'Queries'])!r}\n\n\n".replace("'", '"'),
        "class Queries(Protocol):\n",
        '    """One accessor per named query; every generated dialect module satisfies it."""\n',
    ]
    out.extend(f"\n{m}" for name, m in methods.items() if not reference[name].optional)
    for dialect, names in fast_paths.items():
        if not names:
            continue
        out += [
            f"\n\nclass {fast_paths_class(dialect)}(Protocol):\n",
            f'    """The {dialect} fast paths: single statements standing in for several queries.\n'
            "\n"
            f"    The {dialect} module satisfies this protocol too; elsewhere the engine runs the\n"
            '    portable queries."""\n',
        ]
        out.extend(f"\n{methods[name]}" for name in names)
    return "".join(out)
