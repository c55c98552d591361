"""PLACEHOLDER: being written by the when-language helper. Interface only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class WhenExpression:
    """A compiled ``when`` expression."""

    source: str

    def evaluate(self, state: Mapping[str, Any]) -> bool:
        """Evaluate against ``state``."""
        raise NotImplementedError


def compile_when(text: str) -> WhenExpression:
    """Parse ``text``; raise ``BadRequestError`` if malformed."""
    raise NotImplementedError


def evaluate_when(text: str, state: Mapping[str, Any]) -> bool:
    """Compile (cached) and evaluate."""
    return compile_when(text).evaluate(state)
