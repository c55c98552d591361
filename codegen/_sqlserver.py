"""Parse hand-written T-SQL query files (sqlc has no SQL Server engine).

Same contract as the sqlc dialects: ``-- name: Name :kind`` headers, one statement each ending in
``;``, ``@param`` placeholders and ``IN (/*SLICE:x*/@x)`` lists. Types are not inferred here: the
parity step takes them from the PostgreSQL reference by name, so only names (params and result
columns) and which result columns are computed expressions come from this file.
"""

from __future__ import annotations

import re
from pathlib import Path

from codegen._model import KINDS, Column, GenerationError, Param, Query, Ref, Segment
from codegen._sqlc import leading_comments
from codegen._sqltext import SqlTextError, compact, lex, select_items, strip_statement_terminator

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s+(:\w+)\s*$", re.MULTILINE)


def load_sqlserver(queries_dir: Path, root: Path) -> dict[str, Query]:
    """All queries under ``queries_dir`` (``*.sql``, sorted), keyed by name."""
    out: dict[str, Query] = {}
    if not queries_dir.is_dir():
        raise GenerationError(f"{queries_dir.relative_to(root)} not found")
    for path in sorted(queries_dir.glob("*.sql")):
        source = path.relative_to(root).as_posix()
        for query in parse_file(path.read_text(encoding="utf-8"), source):
            if query.name in out:
                raise GenerationError(f"sqlserver: query {query.name} is defined twice")
            out[query.name] = query
    return out


def parse_file(text: str, source: str) -> list[Query]:
    """The queries of one T-SQL file."""
    headers = list(_HEADER.finditer(text))
    queries: list[Query] = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body = text[header.end() : end]
        queries.append(_parse_query(header.group(1), header.group(2), body, source))
    return queries


def _parse_query(name: str, kind: str, body: str, source: str) -> Query:
    where = f"sqlserver: {name}"
    if kind not in KINDS:
        raise GenerationError(f"{where}: unsupported command {kind}")
    try:
        tokens = strip_statement_terminator(compact(lex(body, "sqlserver")))
    except SqlTextError as exc:
        raise GenerationError(f"{where}: {exc}") from exc
    if any(t.kind == "punct" and t.text == ";" for t in tokens):
        raise GenerationError(f"{where}: more than one statement")
    if not tokens:
        raise GenerationError(f"{where}: empty query")
    template: list[Segment] = []
    params: dict[str, Param] = {}
    pending_slice: str | None = None
    for tok in tokens:
        if tok.kind == "slice":
            pending_slice = tok.text
            continue
        if tok.kind != "param":
            if pending_slice is not None:
                raise GenerationError(f"{where}: /*SLICE:{pending_slice}*/ not before @param")
            if template and isinstance(template[-1], str):
                template[-1] += tok.text
            else:
                template.append(tok.text)
            continue
        pname = tok.text[1:]
        is_slice = pending_slice is not None
        if is_slice and pending_slice != pname:
            raise GenerationError(f"{where}: /*SLICE:{pending_slice}*/ precedes @{pname}")
        pending_slice = None
        seen = params.get(pname)
        if seen is not None and seen.is_list != is_slice:
            raise GenerationError(f"{where}: @{pname} is both a list and a scalar")
        params.setdefault(pname, Param(pname, None, is_slice))
        template.append(Ref(pname, is_slice))
    first = next((t.text.lower() for t in tokens if t.kind == "word"), "")
    columns: list[Column] = []
    if kind in (":one", ":many"):
        items = select_items(tokens, "sqlserver")
        if items is None:
            raise GenerationError(f"{where}: {kind} query has no SELECT or OUTPUT list")
        for position, item in enumerate(items, start=1):
            if item.name is None:
                raise GenerationError(f"{where}: result column {position} needs an AS alias")
            if any(c.name == item.name for c in columns):
                raise GenerationError(f"{where}: duplicate result column {item.name}")
            columns.append(Column(item.name, None, computed=not item.is_column))
    return Query(
        name=name,
        kind=kind,
        dialect="sqlserver",
        source=source,
        params=tuple(params.values()),
        template=tuple(template),
        columns=tuple(columns),
        is_insert=first == "insert",
        comments=leading_comments(body),
    )
