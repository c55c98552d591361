"""Embed sql/schema/<dialect>/NNNN_<name>.sql as ``MIGRATIONS`` so the wheel needs no data files.

Each file becomes one ``Migration``: version = NNNN, name = the rest of the stem, statements =
the file split on ``;`` that ends a line (outside literals and comments), checksum = sha256 of
the file's bytes (the migrator compares it with what it recorded when it applied the file).
Every dialect must have the same versions with the same names: a migration is one schema change
expressed four times.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codegen._emit import LINE, Header, chunks, py_str
from codegen._model import DIALECTS, GenerationError
from codegen._sqltext import Dialect, SqlTextError
from codegen._statements import split_statements

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One schema file, split and hashed."""

    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def load_migrations(root: Path) -> dict[Dialect, list[MigrationFile]]:
    """Every dialect's migrations in version order, checked for matching versions and names."""
    out: dict[Dialect, list[MigrationFile]] = {}
    for dialect in DIALECTS:
        directory = root / "sql" / "schema" / dialect
        if not directory.is_dir():
            raise GenerationError(f"sql/schema/{dialect} not found")
        files: list[MigrationFile] = []
        for path in sorted(directory.iterdir()):
            if path.suffix != ".sql":
                continue
            m = _FILE.match(path.name)
            if not m:
                raise GenerationError(
                    f"sql/schema/{dialect}/{path.name}: name it NNNN_<name>.sql (lower case)"
                )
            data = path.read_bytes()
            try:
                statements = split_statements(data.decode("utf-8"), dialect)
            except SqlTextError as exc:
                raise GenerationError(f"sql/schema/{dialect}/{path.name}: {exc}") from exc
            if not statements and not data.strip().startswith(b"--"):
                # A dialect with nothing to change keeps the version with a file saying why.
                raise GenerationError(
                    f"sql/schema/{dialect}/{path.name}: no statements and no comment saying why"
                )
            files.append(
                MigrationFile(
                    int(m.group(1)), m.group(2), tuple(statements), hashlib.sha256(data).hexdigest()
                )
            )
        versions = [f.version for f in files]
        if versions != list(range(1, len(files) + 1)):
            raise GenerationError(
                f"sql/schema/{dialect}: versions {versions} must run 1, 2, 3... without gaps"
            )
        out[dialect] = files
    reference = [(f.version, f.name) for f in out[DIALECTS[0]]]
    for dialect in DIALECTS[1:]:
        mine = [(f.version, f.name) for f in out[dialect]]
        if mine != reference:
            raise GenerationError(
                f"sql/schema/{dialect}: migrations {mine} differ from {DIALECTS[0]} {reference}"
            )
    return out


def _statement(text: str, indent: str) -> str:
    """A statement as an implicit concatenation: one literal per source line (long ones split)."""
    lines = text.split("\n")
    pieces: list[str] = []
    for k, line in enumerate(lines):
        piece = line + ("\n" if k < len(lines) - 1 else "")
        pieces.extend(chunks(piece, LINE - len(indent) - 6))
    if len(pieces) == 1:
        return py_str(pieces[0])
    body = "".join(f"{indent}    {py_str(p)}\n" for p in pieces if p)
    return f"(\n{body}{indent})"


def render_migrations(migrations: Mapping[Dialect, Sequence[MigrationFile]], header: Header) -> str:
    """Source of ``migrations.py``."""
    out = [
        header.lines("sql/schema"),
        '"""Schema migrations per dialect, embedded so the wheel needs no data files.\n',
        "\n",
        "``MIGRATIONS[dialect]`` lists the numbered files of sql/schema/<dialect> in order. A\n",
        "migration's statements run in order; ``checksum`` is the sha256 of the source file, so"
        " the\n",
        "migrator can refuse a database migrated from a different file with the same version.\n",
        '"""\n\n',
        "from __future__ import annotations\n\n",
        "from collections.abc import Mapping\n",
        "from dataclasses import dataclass\n",
        "from types import MappingProxyType\n",
        "from typing import Final\n\n",
        '__all__ = ["MIGRATIONS", "Migration"]\n\n\n',
        "@dataclass(frozen=True, slots=True)\n",
        "class Migration:\n",
        '    """One numbered schema file: its statements in order and the sha256 of its'
        ' bytes."""\n\n',
        "    version: int\n",
        "    name: str\n",
        "    statements: tuple[str, ...]\n",
        "    checksum: str\n\n\n",
        "MIGRATIONS: Final[Mapping[str, tuple[Migration, ...]]] = MappingProxyType(\n",
        "    {\n",
    ]
    for dialect in sorted(migrations):
        out.append(f"        {py_str(dialect)}: (\n")
        for mig in migrations[dialect]:
            out.append("            Migration(\n")
            out.append(f"                version={mig.version},\n")
            out.append(f"                name={py_str(mig.name)},\n")
            out.append("                statements=(\n")
            for statement in mig.statements:
                out.append(f"                    {_statement(statement, ' ' * 20)},\n")
            out.append("                ),\n")
            out.append(f"                checksum={py_str(mig.checksum)},\n")
            out.append("            ),\n")
        out.append("        ),\n")
    out.append("    }\n)\n")
    return "".join(out)
