"""Fixtures of the live query tests: a fresh, migrated database per backend.

``db`` runs a test once per backend in ``BACKENDS``, and on SQL Server when
``DWARF_TEST_MSSQL_DSN`` names one (tests.fixtures.databases); a module that concerns fewer
backends (a dialect's fast paths) overrides ``backend`` alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.databases import SQLSERVER
from tests.fixtures.storage import BACKENDS, Db, backend_dsn, open_db


@pytest.fixture(params=[*BACKENDS, SQLSERVER])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """Each backend in turn, with a fresh database."""
    return backend_dsn(request)


@pytest.fixture
async def db(backend: tuple[str, str]) -> AsyncIterator[Db]:
    """A migrated database of the backend."""
    async with open_db(*backend) as opened:
        yield opened
