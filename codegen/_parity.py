"""Parity by construction: every dialect must expose the same typed interface as PostgreSQL.

PostgreSQL is the reference because its SQL carries explicit casts, so sqlc types it best. For each
query the other dialects must have the same name (a fast path, ``Query.optional``, exists only
where a dialect defines it, and takes the first defining dialect as reference when PostgreSQL
lacks it), the same command (insert-and-return-id is one command whatever the mechanism), the
same param names with the same list-ness, Python type and nullability, and the same result
column names. A table column's type must match the reference exactly (that is schema parity); a
computed column, or any type a dialect cannot tell (``any``, all of SQL Server), takes the
reference's type and is converted per row.

All problems are collected and reported at once, each naming the dialect, query and field.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Mapping
from dataclasses import replace

from codegen import _types
from codegen._model import (
    DIALECTS,
    REFERENCE,
    Column,
    GenerationError,
    Param,
    PyType,
    Query,
    Ref,
)
from codegen._sqltext import Dialect
from codegen._types import JSON_COLUMNS, parse_annotation


def resolve(
    loaded: Mapping[Dialect, Mapping[str, Query]],
    overrides: Mapping[tuple[str, str], str] | None = None,
) -> dict[Dialect, dict[str, Query]]:
    """Fully typed queries per dialect, or GenerationError listing every disagreement."""
    if overrides is None:
        overrides = _types.COLUMN_OVERRIDES
    errors: list[str] = []
    names = sorted(set().union(*(set(q) for q in loaded.values())))
    optional: set[str] = set()
    for name in names:
        marks = {q[name].optional for q in loaded.values() if name in q}
        if len(marks) > 1:
            errors.append(f"{name}: a fast path in some dialects, a plain query in others")
        if True in marks:
            optional.add(name)
    for dialect in DIALECTS:
        missing = [n for n in names if n not in loaded.get(dialect, {}) and n not in optional]
        if missing:
            errors.append(f"{dialect}: missing queries {', '.join(missing)}")
    if errors:
        raise GenerationError("\n".join(errors))
    for key in overrides:
        query = loaded[REFERENCE].get(key[0])
        if query is None or all(c.name != key[1] for c in query.columns):
            errors.append(f"override {key} names no result column")
    out: dict[Dialect, dict[str, Query]] = {d: {} for d in DIALECTS}
    for name in names:
        # A fast path that PostgreSQL lacks takes its first defining dialect as reference.
        home = next(d for d in (REFERENCE, *DIALECTS) if name in loaded.get(d, {}))
        ref = _resolve_reference(loaded[home][name], overrides, errors)
        out[home][name] = ref
        for dialect in DIALECTS:
            if dialect != home and name in loaded.get(dialect, {}):
                out[dialect][name] = _resolve_against(loaded[dialect][name], ref, errors)
    if errors:
        raise GenerationError("\n".join(errors))
    return out


def _resolve_reference(
    query: Query, overrides: Mapping[tuple[str, str], str], errors: list[str]
) -> Query:
    where = f"{query.dialect}: {query.name}"
    for param in query.params:
        if param.type is None:
            errors.append(
                f"{where}: cannot infer the type of param {param.name};"
                f" cast it (sqlc.arg({param.name})::bigint)"
            )
        elif param.type.base == "datetime":
            errors.append(
                f"{where}: param {param.name} binds a timestamp; bind milliseconds and do the"
                " arithmetic in SQL (database clock only)"
            )
        elif param.name in JSON_COLUMNS and param.type.base != "str":
            errors.append(f"{where}: JSON param {param.name} must be text, not {param.type.base}")
    columns: list[Column] = []
    for column in query.columns:
        override = overrides.get((query.name, column.name))
        ctype = column.type
        if override is not None:
            ctype = parse_annotation(override, f"override ({query.name}, {column.name})")
        if ctype is None:
            errors.append(
                f"{where}: cannot infer the type of computed column {column.name}; add a cast"
                f" (e.g. ::bigint) or an entry in codegen/_types.py COLUMN_OVERRIDES"
            )
            ctype = PyType("str")
        if column.name in JSON_COLUMNS and ctype.base != "str":
            errors.append(f"{where}: JSON column {column.name} must be text, not {ctype.base}")
        columns.append(replace(column, type=ctype))
    return replace(query, columns=tuple(columns))


def limit_params(query: Query) -> dict[str, str]:
    """``{"limit": name, "offset": name}`` for params bound right after LIMIT / OFFSET."""
    found: dict[str, str] = {}
    for k, seg in enumerate(query.template):
        before = query.template[k - 1] if k else ""
        if isinstance(seg, Ref) and isinstance(before, str):
            words = before.split()
            if words and words[-1].lower() in ("limit", "offset"):
                found[words[-1].lower()] = seg.name
    return found


def _rename_roles(query: Query, ref: Query, errors: list[str]) -> Query:
    """Give sqlc's self-named ``LIMIT ?`` params the reference's names."""
    renames: dict[str, str] = {}
    targets = limit_params(ref)
    for param in query.params:
        if param.role is None:
            continue
        target = targets.get(param.role)
        if target is None:
            errors.append(
                f"{query.dialect}: {query.name}: bare {param.role.upper()} ? has no"
                f" {param.role.upper()} param in {REFERENCE} to take its name from"
            )
        else:
            renames[param.name] = target
    if not renames:
        return query
    params = tuple(replace(p, name=renames.get(p.name, p.name), role=None) for p in query.params)
    template = tuple(
        Ref(renames.get(s.name, s.name), s.is_slice) if isinstance(s, Ref) else s
        for s in query.template
    )
    return replace(query, params=params, template=template)


def _resolve_against(query: Query, ref: Query, errors: list[str]) -> Query:
    where = f"{query.dialect}: {query.name}"
    query = _rename_roles(query, ref, errors)
    if query.kind != ref.kind and not (query.returns_insert_id and ref.returns_insert_id):
        errors.append(f"{where}: command {query.kind}, but {ref.kind} in {REFERENCE}")
    if query.returns_insert_id != ref.returns_insert_id:
        errors.append(f"{where}: insert-and-return-id differs from {REFERENCE}")
    mine = {p.name: p for p in query.params}
    theirs = {p.name: p for p in ref.params}
    if set(mine) != set(theirs):
        extra = sorted(set(mine) - set(theirs))
        lost = sorted(set(theirs) - set(mine))
        errors.append(
            f"{where}: params differ from {REFERENCE}:"
            f" extra {', '.join(extra) or '-'}; missing {', '.join(lost) or '-'}"
        )
        return query
    params: list[Param] = []
    for rparam in ref.params:
        param = mine[rparam.name]
        if param.is_list != rparam.is_list:
            errors.append(f"{where}: param {param.name} list-ness differs from {REFERENCE}")
        if param.type is not None and rparam.type is not None and param.type != rparam.type:
            errors.append(
                f"{where}: param {param.name} is {param.type.annotation},"
                f" {rparam.type.annotation} in {REFERENCE}"
            )
        params.append(replace(param, type=rparam.type))
    columns: list[Column] = []
    if not (query.returns_insert_id and ref.returns_insert_id):
        ref_columns = {c.name: c for c in ref.columns}
        if {c.name for c in query.columns} != set(ref_columns):
            errors.append(
                f"{where}: result columns {[c.name for c in query.columns]} differ from"
                f" {REFERENCE} {[c.name for c in ref.columns]}"
            )
            return query
        for column in query.columns:
            rcol = ref_columns[column.name]
            if (
                not column.computed
                and not rcol.computed
                and column.type is not None
                and rcol.type is not None
                and column.type != rcol.type
            ):
                errors.append(
                    f"{where}: column {column.name} is {column.type.annotation},"
                    f" {rcol.type.annotation} in {REFERENCE}"
                )
            columns.append(replace(column, type=rcol.type))
    else:
        columns = list(query.columns)
    return replace(query, params=tuple(params), columns=tuple(columns))


def catalog(resolved: Mapping[Dialect, Mapping[str, Query]]) -> dict[str, Query]:
    """Every query once, as its reference dialect has it (PostgreSQL's, else the first's)."""
    out: dict[str, Query] = {}
    for dialect in (REFERENCE, *DIALECTS):
        for name, query in resolved.get(dialect, {}).items():
            out.setdefault(name, query)
    return dict(sorted(out.items()))


def check_unique_signatures(resolved: Mapping[Dialect, Mapping[str, Query]]) -> None:
    """Fail when two queries map to the same Python function name."""
    seen: dict[str, str] = {}
    for name in catalog(resolved):
        func = snake(name)
        if keyword.iskeyword(func) or hasattr(builtins, func) or func.startswith("_"):
            raise GenerationError(f"query {name} would become {func}(), which shadows Python's")
        if func == "configure_connection":
            raise GenerationError(f"query {name} would become {func}(), which is reserved")
        if func in seen:
            raise GenerationError(f"queries {seen[func]} and {name} both become {func}()")
        seen[func] = name


def snake(name: str) -> str:
    """``GetFlowByID`` -> ``get_flow_by_id``; ``SelectDueBand`` -> ``select_due_band``."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0:
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch.lower())
    return "".join(out)
