"""Running the how-to guides' programs (``docs/how-to/snippets/``) as the pages include them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "how-to" / "snippets"


def run_snippet(name: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``docs/how-to/snippets/<name>`` from the repository root; its printed lines."""
    result = subprocess.run(
        [sys.executable, str(SNIPPETS / name)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()
