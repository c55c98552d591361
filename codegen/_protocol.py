"""Render ``queries.py``: the ``Queries`` protocol every dialect's accessor module satisfies.

The engine holds one dialect's module per shard but must be typed against all of them. A module
object conforms to a ``Protocol`` structurally (mypy checks modules against protocols), so the
protocol lists each accessor with the reference's keyword-only params and return type and an
``Any`` connection: each dialect module keeps its precise driver type, and a signature drift in
any one of them is a type error wherever that module is used as ``Queries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from codegen._emit import Header, docstring, return_annotation, row_classes
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


def render_protocol(
    reference: Mapping[str, Query], fast_paths: Mapping[Dialect, Sequence[str]], header: Header
) -> str:
    """Source of ``queries.py``: ``Queries`` (every dialect) and each dialect's fast paths."""
    classes = row_classes(reference)
    methods: dict[str, str] = {}
    rows_used: set[str] = set()
    needs_sequence = False
    needs_datetime = False
    for name in sorted(reference):
        query = reference[name]
        result = return_annotation(query, classes)
        if query.name in classes and classes[query.name] in result:
            rows_used.add(classes[query.name])
        needs_datetime = needs_datetime or "datetime" in result
        needs_sequence = needs_sequence or any(p.is_list for p in query.params)
        params = ", ".join(f"{p.name}: {p.annotation}" for p in query.params)
        signature = "self, conn: Any" + (f", *, {params}" if params else "")
        kind = "insert-id" if query.returns_insert_id else query.kind
        doc = docstring(f"{query.name} ({kind}).", query.comments, "        ")
        methods[name] = (
            f"    async def {snake(query.name)}({signature}) -> {result}:\n{doc}        ...\n"
        )
    imports = ["from __future__ import annotations", ""]
    if needs_sequence:
        imports.append("from collections.abc import Sequence")
    if needs_datetime:
        imports.append("from datetime import datetime")
    imports.append("from typing import Any, Protocol")
    if rows_used:
        imports += ["", f"from dwarf._storage._gen.rows import {', '.join(sorted(rows_used))}"]
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
