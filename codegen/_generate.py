"""Orchestration: inputs -> eight formatted modules; write them, or diff them against the tree.

Reproducibility: the inputs digest covers ``sqlc.yaml`` and every file under ``sql/`` (paths and
bytes, sorted); nothing time- or machine-dependent enters the output; every file goes through the
venv's ``ruff check --select I --fix`` and ``ruff format`` with the repository's configuration.
"""

from __future__ import annotations

import difflib
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from codegen._domain import narrow
from codegen._emit import Header, render_dialect, render_rows
from codegen._migrations import load_migrations, render_migrations
from codegen._model import DIALECTS, REFERENCE, GenerationError, Query
from codegen._parity import catalog, check_unique_signatures, resolve
from codegen._protocol import render_protocol
from codegen._sqlc import SQLC_DIALECTS, load_queries, run_sqlc
from codegen._sqlserver import load_sqlserver
from codegen._sqltext import Dialect
from codegen._tx import render_tx

OUTPUT_DIR = Path("src/dwarf/_storage/_gen")
FILES = (
    "migrations.py",
    "mysql.py",
    "postgresql.py",
    "queries.py",
    "rows.py",
    "sqlite.py",
    "sqlserver.py",
    "tx.py",
)
KEEP = frozenset({"__init__.py"})


def inputs_digest(root: Path) -> str:
    """sha256 over sqlc.yaml and every file under sql/ (relative path, NUL, bytes; sorted)."""
    paths = [root / "sqlc.yaml", *(p for p in (root / "sql").rglob("*") if p.is_file())]
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def generate(root: Path) -> dict[str, str]:
    """File name -> formatted source of every generated module."""
    with tempfile.TemporaryDirectory(prefix="dwarf-codegen-") as tmp:
        requests = run_sqlc(root, Path(tmp))
    version = str(requests[REFERENCE].get("sqlc_version", "unknown"))
    header = Header(version, inputs_digest(root))
    loaded: dict[Dialect, dict[str, Query]] = {}
    for dialect in SQLC_DIALECTS:
        loaded[dialect] = load_queries(
            requests[dialect], dialect, root / "sql" / "queries" / dialect
        )
    loaded["sqlserver"] = load_sqlserver(root / "sql" / "queries" / "sqlserver", root)
    resolved = resolve(loaded)
    check_unique_signatures(resolved)
    resolved = narrow(resolved, catalog(resolved))
    reference = catalog(resolved)
    fast_paths = {
        dialect: sorted(name for name, query in resolved[dialect].items() if query.optional)
        for dialect in DIALECTS
    }
    sources = {
        "rows.py": render_rows(reference, header),
        "queries.py": render_protocol(reference, fast_paths, header),
        "tx.py": render_tx(reference, header),
    }
    for dialect in DIALECTS:
        sources[f"{dialect}.py"] = render_dialect(dialect, resolved[dialect], reference, header)
    sources["migrations.py"] = render_migrations(load_migrations(root), header)
    return {name: format_source(root, name, text) for name, text in sorted(sources.items())}


def format_source(root: Path, name: str, source: str) -> str:
    """Sort imports and format with the venv's ruff, as if the file sat at its output path."""
    target = str(OUTPUT_DIR / name)
    for args in (
        # dwarf is first-party whether or not src/dwarf exists yet (fresh checkouts, fixtures)
        [
            "check",
            "--fix",
            "--select",
            "I",
            "--exit-zero",
            "--quiet",
            "--config",
            "lint.isort.known-first-party = ['dwarf']",
        ],
        ["format", "--quiet"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--stdin-filename", target, "-"],
            input=source,
            capture_output=True,
            text=True,
            cwd=root,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr + proc.stdout).strip()
            raise GenerationError(f"ruff {args[0]} failed on {name}:\n{detail}")
        source = proc.stdout
    return source


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Write the files under OUTPUT_DIR; return the names that changed."""
    out_dir = root / OUTPUT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    init = out_dir / "__init__.py"
    if not init.exists():
        init.write_text("")
    changed: list[str] = []
    for name, text in files.items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def drift(root: Path, files: dict[str, str]) -> str:
    """Unified diff between the tree and freshly generated files ('' when they match)."""
    out_dir = root / OUTPUT_DIR
    diffs: list[str] = []
    present = {p.name for p in out_dir.glob("*.py")} if out_dir.is_dir() else set()
    for name in sorted(present - set(files) - KEEP):
        diffs.append(f"unexpected file {OUTPUT_DIR / name} (not generated)\n")
    for name, text in files.items():
        path = out_dir / name
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old != text:
            rel = (OUTPUT_DIR / name).as_posix()
            diffs.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"a/{rel}",
                    tofile=f"b/{rel}",
                )
            )
    return "".join(diffs)


def check(root: Path) -> str:
    """Regenerate into a temporary directory and diff against the tree."""
    files = generate(root)
    with tempfile.TemporaryDirectory(prefix="dwarf-codegen-check-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        regenerated = {name: (Path(tmp) / name).read_text(encoding="utf-8") for name in files}
    return drift(root, regenerated)
