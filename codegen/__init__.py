"""Code generator: sqlc's analysis of sql/ -> typed async accessors under src/dwarf/_storage/_gen/.

Run ``python -m codegen`` from the repository root to regenerate, ``python -m codegen --check`` to
verify the committed files are current (CI does). See docs/internals/codegen.md. This package is a
build tool: it is not part of the wheel and the runtime never imports it.
"""

from __future__ import annotations

from codegen._generate import FILES, OUTPUT_DIR, check, drift, generate, inputs_digest, write
from codegen._model import GenerationError

__all__ = [
    "FILES",
    "OUTPUT_DIR",
    "GenerationError",
    "check",
    "drift",
    "generate",
    "inputs_digest",
    "write",
]
