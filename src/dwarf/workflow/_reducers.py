"""PLACEHOLDER: being written by the reducers helper. Interface only."""

from __future__ import annotations

from enum import StrEnum


class Reducer(StrEnum):
    """How a field's values from several branches combine."""

    REPLACE = "replace"
    APPEND = "append"
    ADD = "add"
    MIN = "min"
    MAX = "max"
    UNION = "union"
    MERGE = "merge"
    AND = "and"
    OR = "or"
    CONCAT = "concat"
