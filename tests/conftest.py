"""Shared pytest configuration: fixtures and harnesses live in ``tests.fixtures``."""

import pytest

# Registers the thorough Hypothesis profile before the plugin loads the one asked for.
import tests.property.budgets  # noqa: F401

# The harnesses assert too (a row that must exist, a result's exact type): rewrite their asserts
# like a test module's, so a failure inside one shows its values.
pytest.register_assert_rewrite("tests.fixtures")

pytest_plugins = [
    "pytester",
    "tests.fixtures.databases",
    "tests.fixtures.engines",
    "tests.fixtures.logs",
]
