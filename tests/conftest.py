"""Shared pytest configuration: fixtures live in ``tests.fixtures``."""

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.engines"]
