"""``Tx``: the ``Queries`` accessors bound to one connection.

Its methods must be exactly the members of ``Queries`` (a query added to the protocol and missing
from ``Tx``, or the reverse, fails here), with the same keyword-only params, return type and
docstring; and a ``Tx`` over the SQLite module must write and read a real database.
"""

from __future__ import annotations

import inspect

import pytest

from dwarf._storage._gen import sqlite
from dwarf._storage._gen.queries import Queries
from dwarf._storage._gen.tx import Tx
from tests.fixtures.storage import FLOW_DEFAULTS, STEP_DEFAULTS, Db, backend_dsn, protocol_members


@pytest.fixture(params=["sqlite-file", "sqlite-memory"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """SQLite only: the dialect module under test is ``sqlite``."""
    return backend_dsn(request)


def test_tx_methods_are_exactly_the_queries_members() -> None:
    assert set(protocol_members(Tx)) == set(protocol_members(Queries))


def test_tx_methods_take_the_queries_params_without_the_connection() -> None:
    for name, member in protocol_members(Queries).items():
        declared = inspect.signature(member, eval_str=True)
        bound = inspect.signature(getattr(Tx, name), eval_str=True)
        declared_params = list(declared.parameters.values())
        assert [p.name for p in declared_params[:2]] == ["self", "conn"], name
        assert list(bound.parameters.values()) == [declared_params[0], *declared_params[2:]], name
        assert bound.return_annotation == declared.return_annotation, name
        assert getattr(Tx, name).__doc__ == member.__doc__, name
        assert "Any" not in str(bound), name
    assert "Any" not in str(inspect.signature(Tx.__init__, eval_str=True))


async def test_tx_over_sqlite_writes_and_reads_through_its_connection(db: Db) -> None:
    tx = Tx(sqlite, db.conn)
    flow_id = await tx.insert_flow(**FLOW_DEFAULTS)
    await tx.adopt_flow_identity(flow_id=flow_id, step_id=0)
    step_id = await tx.insert_step(**{**STEP_DEFAULTS, "flow_id": flow_id})

    flow = await tx.get_flow_by_id(flow_id=flow_id)
    assert flow is not None
    assert (flow.flow_id, flow.thread_id, flow.status) == (flow_id, flow_id, "running")
    step = await tx.get_step_by_id(step_id=step_id)
    assert step is not None
    assert (step.flow_id, step.status) == (flow_id, "pending")
    assert await tx.get_flow_by_id(flow_id=flow_id + 1) is None
