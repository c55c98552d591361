"""``python -m codegen [--check] [--root DIR]``: regenerate src/dwarf/_storage/_gen/ or diff it.

Exit status: 0 done / up to date; 1 generation failed or (with --check) the committed files drift
from their inputs (the unified diff is printed); 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from codegen._generate import OUTPUT_DIR, check, generate, write
from codegen._model import GenerationError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and fail with a diff if the tree differs",
    )
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)"
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        if args.check:
            diff = check(root)
        else:
            files = generate(root)
    except GenerationError as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if diff:
            sys.stdout.write(diff)
            print(f"codegen: {OUTPUT_DIR} is out of date; run `python -m codegen`", file=sys.stderr)
            return 1
        return 0
    changed = write(root, files)
    for name in changed:
        print(f"codegen: wrote {OUTPUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
