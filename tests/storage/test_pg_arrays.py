"""The one-pass array dumper sends what PostgreSQL reads back as the very same array.

Every group-commit statement passes its fields as arrays (JSON documents among them, full of
quotes and backslashes): a literal the server parses differently would corrupt a flow's state.
Round-tripped through the real server, against psycopg's own dumper where the one-pass path
steps aside (NULL elements, nested lists, a NUL character).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwarf._storage._pg_arrays import FlatListDumper
from tests.fixtures.databases import POSTGRES_SERVER_DSN, unavailable

pytestmark = pytest.mark.postgres

INT8 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@pytest.fixture(scope="module")
def conn() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to the PostgreSQL test server with the one-pass dumper registered."""
    try:
        connection = psycopg.connect(POSTGRES_SERVER_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
        raise
    connection.adapters.register_dumper(list, FlatListDumper)
    with connection:
        yield connection


def _echo(conn: psycopg.Connection[tuple[object, ...]], sql: str, value: list[object]) -> object:
    row = conn.execute(sql, {"value": value}).fetchone()
    assert row is not None
    return row[0]


@settings(max_examples=300, deadline=None)
# Lone surrogates cannot be encoded at all (by psycopg's dumper either).
@given(st.lists(st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))))
def test_strings_come_back_as_sent(
    conn: psycopg.Connection[tuple[object, ...]], value: list[object]
) -> None:
    assert _echo(conn, "SELECT %(value)s::text[]", value) == value


@settings(max_examples=100, deadline=None)
@given(st.lists(INT8))
def test_ints_come_back_as_sent(
    conn: psycopg.Connection[tuple[object, ...]], value: list[object]
) -> None:
    assert _echo(conn, "SELECT %(value)s::int8[]", value) == value


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False)))
def test_floats_come_back_as_sent(
    conn: psycopg.Connection[tuple[object, ...]], value: list[object]
) -> None:
    assert _echo(conn, "SELECT %(value)s::float8[]", value) == value


def test_json_documents_with_quotes_and_backslashes_survive(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    documents: list[object] = ['{"path": "C:\\\\tmp", "say": "\\"hi\\""}', "{}", "NULL", ""]
    assert _echo(conn, "SELECT %(value)s::text[]", documents) == documents


def test_what_the_one_pass_path_leaves_to_psycopg_still_round_trips(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    with_nulls: list[object] = ["a", None, "b"]
    nested: list[object] = [[1, 2], [3, 4]]
    assert _echo(conn, "SELECT %(value)s::text[]", with_nulls) == with_nulls
    assert _echo(conn, "SELECT %(value)s::int8[]", nested) == nested
    assert _echo(conn, "SELECT %(value)s::int8[]", []) == []
    assert _echo(conn, "SELECT %(value)s::int8[]", [None, None]) == [None, None]
    assert _echo(conn, "SELECT %(value)s::float8[]", [0.5, None]) == [0.5, None]
    assert _echo(conn, "SELECT %(value)s::float8[]", [float("inf")]) == [float("inf")]


def test_one_prepared_statement_serves_lists_of_any_magnitude(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    # psycopg's own dumper types a list of small ints int2[] and one of large ints int8[]: two
    # prepared statements for one query. Untyped, the cast types the parameter once.
    sql = "SELECT %(value)s::int8[] AS prepared_once"
    for value in ([1, 2], [2**40], [-(2**62), 3], [], [7]):
        assert conn.execute(sql, {"value": value}, prepare=True).fetchone() == (value,)
    cursor = conn.execute(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
        ("%prepared_once%",),
    )
    assert cursor.fetchone() == (1,)


def test_a_nul_character_is_refused_as_psycopg_refuses_it(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    with pytest.raises(psycopg.DataError, match="NUL"):
        _echo(conn, "SELECT %(value)s::text[]", ["a\x00b"])
