"""The source tree keeps its shape: small modules, one-way imports, a dialect-free engine.

The tables below are the architecture, written down where a test holds the code to it. To change
the architecture, change a table (and say why in the commit); to fix a failure, move the code.

Imports are read with ``ast`` from the files, not from ``sys.modules``: an import inside a function
or an ``if TYPE_CHECKING:`` block counts as much as one at the top, because it is the same
dependency.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DWARF = SRC / "dwarf"
GENERATED = DWARF / "_storage" / "_gen"
CODEGEN = ROOT / "codegen"

# Past this, a module holds more than one mechanism: split it.
MAX_LINES = 500

# Each package and the packages it may import (its own modules it always may). Bottom-up:
# errors <- workflow <- _scheduling <- _storage <- _migrate <- engine <- _console <- _cli; the root
# package imports the engine lazily, and only the operator surfaces may import the root package.
# The console reaches storage only for DSN masking (a page shows the DSN, never its password);
# the command line serves the console (``dwarf console``).
# The testing kit and the synchronous facade are hosts of the public engine API, beside the
# operator surfaces and below nothing.
# _observability (metrics, spans over the OpenTelemetry API) stands apart: it imports no dwarf
# package, and only the engine imports it (the engine decides what happened; it only emits).
PACKAGE_IMPORTS: dict[str, frozenset[str]] = {
    "dwarf.errors": frozenset(),
    "dwarf._observability": frozenset(),
    "dwarf.workflow": frozenset({"dwarf.errors"}),
    "dwarf._scheduling": frozenset({"dwarf.errors", "dwarf.workflow"}),
    "dwarf._storage": frozenset({"dwarf.errors", "dwarf.workflow", "dwarf._scheduling"}),
    "dwarf._migrate": frozenset({"dwarf.errors", "dwarf._storage"}),
    "dwarf.engine": frozenset(
        {
            "dwarf.errors",
            "dwarf.workflow",
            "dwarf._scheduling",
            "dwarf._storage",
            "dwarf._migrate",
            "dwarf._observability",
        }
    ),
    "dwarf._soak": frozenset({"dwarf.errors", "dwarf.workflow", "dwarf.engine"}),
    "dwarf._cli": frozenset(
        {
            "dwarf",
            "dwarf.errors",
            "dwarf.workflow",
            "dwarf._storage",
            "dwarf._migrate",
            "dwarf.engine",
            "dwarf._console",
        }
    ),
    "dwarf._console": frozenset(
        {"dwarf", "dwarf.errors", "dwarf.workflow", "dwarf._storage", "dwarf.engine"}
    ),
    "dwarf.testing": frozenset({"dwarf.errors", "dwarf.workflow", "dwarf.engine"}),
    "dwarf.sync": frozenset({"dwarf.errors", "dwarf.workflow", "dwarf.engine"}),
    "dwarf": frozenset({"dwarf.engine"}),
}

# Inside the engine, by lifecycle: _runtime (runtime, config, keys, waiters: shared by all) <-
# _step (executing a claimed step and everything that happens when it ends) <- _dispatch (the claim
# loop) and _operations (what a host can ask for), which never import each other; Engine, TestProxy
# and the package door sit on top. Each part may import its own modules, the leaves below, and
# what its row lists (engine parts and outside packages: the "May import" of its docstring).
ENGINE_IMPORTS: dict[str, frozenset[str]] = {
    "dwarf.engine._types": frozenset({"dwarf.errors", "dwarf.workflow"}),
    "dwarf.engine._runtime": frozenset(
        {
            "dwarf.errors",
            "dwarf.workflow",
            "dwarf._scheduling",
            "dwarf._storage",
            "dwarf._migrate",
            "dwarf._observability",
        }
    ),
    "dwarf.engine._protection": frozenset(
        {"dwarf._scheduling", "dwarf._storage", "dwarf.engine._runtime"}
    ),
    "dwarf.engine._step": frozenset(
        {
            "dwarf.errors",
            "dwarf.workflow",
            "dwarf._scheduling",
            "dwarf._storage",
            "dwarf.engine._runtime",
            "dwarf.engine._protection",
        }
    ),
    "dwarf.engine._dispatch": frozenset(
        {
            "dwarf.errors",
            "dwarf._scheduling",
            "dwarf._storage",
            "dwarf.engine._runtime",
            "dwarf.engine._protection",
            "dwarf.engine._step",
        }
    ),
    "dwarf.engine._operations": frozenset(
        {
            "dwarf.errors",
            "dwarf.workflow",
            "dwarf._storage",
            "dwarf.engine._runtime",
            "dwarf.engine._protection",
            "dwarf.engine._step",
        }
    ),
    "dwarf.engine._proxy": frozenset({"dwarf.errors", "dwarf.workflow"}),
    "dwarf.engine._database_signals": frozenset(
        {"dwarf.errors", "dwarf._storage", "dwarf.engine._runtime"}
    ),
    "dwarf.engine._engine": frozenset(
        {
            "dwarf.errors",
            "dwarf.workflow",
            "dwarf._scheduling",
            "dwarf._storage",
            "dwarf._migrate",
            "dwarf.engine._runtime",
            "dwarf.engine._protection",
            "dwarf.engine._step",
            "dwarf.engine._dispatch",
            "dwarf.engine._database_signals",
            "dwarf.engine._operations",
        }
    ),
    "dwarf.engine": frozenset({"dwarf._scheduling", "dwarf.engine._engine", "dwarf.engine._proxy"}),
}
# Leaves of the engine (the dependency types a host injects): every part may import them. A leaf's
# own row lists no engine part.
ENGINE_LEAVES = frozenset({"dwarf.engine._types"})

# Packages entered only through their ``__init__`` by the packages listed: the engine speaks to
# storage through the Store contract, never to a dialect module or the generated accessors.
DOORS: dict[str, frozenset[str]] = {
    "dwarf._storage": frozenset({"dwarf.engine"}),
}

# The engine speaks in domain operations, never in dialects: these words may appear in its
# docstrings (which explain a constraint's origin) but not in its code or comments.
DIALECT_WORDS = re.compile(
    r"postgres|mysql|mariadb|sqlite|sqlserver|pg_fast|mysql_fast", re.IGNORECASE
)


@dataclass(frozen=True)
class Import:
    """One ``dwarf`` module a source module imports, resolved to the most specific module."""

    importer: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.importer} imports {self.target}"


def module_name(path: Path) -> str:
    """The dotted name of a source file under src/ (a package by its own name)."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    """Every module under src/dwarf, by dotted name."""
    return {module_name(path): path for path in sorted(DWARF.rglob("*.py"))}


def imports_of(
    importer: str, source: str, path: Path, known: frozenset[str], *, is_package: bool
) -> Iterator[Import]:
    """The ``dwarf`` modules ``source`` imports anywhere in its tree (functions and blocks too).

    ``from a import b`` is an import of ``a.b`` when that is a module, else of ``a``.
    """
    package = importer if is_package else importer.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):  # once per module, however many names
            if target == "dwarf" or target.startswith("dwarf."):
                yield Import(importer, target, path, node.lineno)


def all_imports() -> list[Import]:
    """Every ``dwarf`` import of every module under src/dwarf."""
    modules = source_modules()
    known = frozenset(modules)
    found: list[Import] = []
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        is_package = path.name == "__init__.py"
        found.extend(imports_of(name, source, path, known, is_package=is_package))
    return sorted(found, key=lambda imp: (imp.path, imp.line, imp.target))


def package_of(module: str) -> str:
    """The top-level package a module belongs to (``dwarf`` for the root package itself)."""
    return ".".join(module.split(".")[:2])


def engine_part_of(module: str) -> str:
    """The part of the engine a module belongs to (``dwarf.engine`` for the package door)."""
    return ".".join(module.split(".")[:3])


def report(title: str, offences: list[str]) -> str:
    """One failure message listing every offence, one a line."""
    return f"{title} ({len(offences)}):\n  " + "\n  ".join(offences)


# ----------------------------------------------------------------------------------------------
# Size


def test_no_hand_written_module_is_over_the_size_limit() -> None:
    hand_written = [
        path
        for path in [*DWARF.rglob("*.py"), *CODEGEN.rglob("*.py")]
        if not path.is_relative_to(GENERATED)
    ]
    assert len(hand_written) > 50
    too_long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in sorted(hand_written)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not too_long, report(f"modules over {MAX_LINES} lines: split them", too_long)


# ----------------------------------------------------------------------------------------------
# Import direction


def test_the_import_reader_sees_every_form_of_import() -> None:
    source = """
from typing import TYPE_CHECKING
import dwarf.errors
from dwarf import workflow
from dwarf.engine import Engine
from . import _keys
from .._step._execute import run
if TYPE_CHECKING:
    from dwarf._storage import Store
def later():
    import dwarf._migrate
"""
    known = frozenset(
        {
            "dwarf.errors",
            "dwarf.workflow",
            "dwarf.engine",
            "dwarf.engine._runtime._keys",
            "dwarf.engine._step._execute",
            "dwarf._storage",
            "dwarf._migrate",
        }
    )
    importer = "dwarf.engine._runtime._runtime"
    found = imports_of(importer, source, DWARF / "x.py", known, is_package=False)
    assert [(i.target, i.line) for i in found] == [
        ("dwarf.errors", 3),
        ("dwarf.workflow", 4),
        ("dwarf.engine", 5),
        ("dwarf.engine._runtime._keys", 6),
        ("dwarf.engine._step._execute", 7),
        ("dwarf._storage", 9),
        ("dwarf._migrate", 11),
    ]


def test_packages_import_only_the_layers_below_them() -> None:
    offences = []
    for imp in all_imports():
        importer, target = package_of(imp.importer), package_of(imp.target)
        if importer not in PACKAGE_IMPORTS:
            offences.append(f"{imp}: {importer} has no row in PACKAGE_IMPORTS")
        elif importer != target and target not in PACKAGE_IMPORTS[importer]:
            offences.append(f"{imp}: {importer} may not import {target}")
    assert not offences, report("imports against the package layering", offences)


def test_engine_parts_import_only_what_their_row_allows() -> None:
    for leaf in ENGINE_LEAVES:  # a leaf importing a part would let every part import it too
        assert not {p for p in ENGINE_IMPORTS[leaf] if p.startswith("dwarf.engine")}, leaf
    offences = []
    for imp in all_imports():
        if package_of(imp.importer) != "dwarf.engine":
            continue
        importer = engine_part_of(imp.importer)
        inside = package_of(imp.target) == "dwarf.engine"
        target = engine_part_of(imp.target) if inside else package_of(imp.target)
        if importer not in ENGINE_IMPORTS:
            offences.append(f"{imp}: {importer} has no row in ENGINE_IMPORTS")
        elif target != importer and target not in ENGINE_LEAVES | ENGINE_IMPORTS[importer]:
            offences.append(f"{imp}: {importer} may not import {target}")
    assert not offences, report("imports against the engine's layering", offences)


def test_private_modules_are_entered_through_their_package() -> None:
    offences = [
        f"{imp}: {package_of(imp.importer)} must import {door} itself"
        for imp in all_imports()
        for door, users in DOORS.items()
        if imp.target.startswith(door + ".") and package_of(imp.importer) in users
    ]
    assert not offences, report("imports behind a package's door", offences)


# ----------------------------------------------------------------------------------------------
# A dialect-free engine


def docstring_positions(tree: ast.Module) -> set[tuple[int, int]]:
    """Where each docstring (module, class, function) starts: (line, column)."""
    positions = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                positions.add((first.lineno, first.col_offset))
    return positions


def dialect_mentions(source: str) -> Iterator[tuple[int, str]]:
    """(line, token) for each dialect word in code, strings or comments: docstrings excepted."""
    docstrings = docstring_positions(ast.parse(source))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and token.start in docstrings:
            continue
        if DIALECT_WORDS.search(token.string):
            yield token.start[0], token.string.strip()


def test_dialect_mentions_skip_docstrings_only() -> None:
    source = '''"""Module: PostgreSQL is fine here."""
def f(shard):
    """So is MySQL."""
    # but not in a comment about SQLite
    return shard.pg_fast or "mariadb"
'''
    assert [line for line, _ in dialect_mentions(source)] == [4, 5, 5]


def test_the_engine_names_no_dialect_outside_docstrings() -> None:
    engine = DWARF / "engine"
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in sorted(engine.rglob("*.py"))
        for line, text in dialect_mentions(path.read_text(encoding="utf-8"))
    ]
    assert not offences, report(
        "dialect names in the engine's code or comments: move the difference into a Store",
        offences,
    )
