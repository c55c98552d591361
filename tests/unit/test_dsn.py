"""DSN parsing, sharding and masking: what an operator typing a DSN sees."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dwarf._storage._dsn import Dsn, dialect_named, mask_dsn, parse_dsn, scrub, shard_dsns
from dwarf.errors import BadRequestError

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("dsn", "dialect"),
    [
        ("postgresql://u:p@h/db", "postgresql"),
        ("postgres://u:p@h/db", "postgresql"),
        ("mysql://u:p@h/db", "mysql"),
        ("mariadb://u:p@h/db", "mysql"),
        ("MySQL://u:p@h/db", "mysql"),
        ("mssql://u:p@h/db", "sqlserver"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_scheme_selects_the_dialect(dsn: str, dialect: str) -> None:
    assert parse_dsn(dsn).dialect == dialect


def test_server_dsn_fields_are_percent_decoded() -> None:
    dsn = parse_dsn("postgresql://us%40er:p%40ss%2Fw@db.example:6543/my%20db?sslmode=require")
    assert (dsn.user, dsn.password, dsn.host, dsn.port, dsn.database) == (
        "us@er",
        "p@ss/w",
        "db.example",
        6543,
        "my db",
    )
    assert dict(dsn.params) == {"sslmode": "require"}


def test_server_dsn_without_port_or_credentials_leaves_them_empty() -> None:
    dsn = parse_dsn("mysql://db.example/dwarf")
    assert (dsn.user, dsn.password, dsn.port, dsn.host) == ("", "", None, "db.example")


def test_ipv6_host_is_unbracketed() -> None:
    dsn = parse_dsn("postgresql://u@[::1]:5432/db")
    assert (dsn.host, dsn.port) == ("::1", 5432)
    assert dsn.masked() == "postgresql://u@[::1]:5432/db"


def test_unencoded_at_sign_in_password_still_parses() -> None:
    dsn = parse_dsn("postgresql://u:pa@ss@h/db")
    assert (dsn.password, dsn.host) == ("pa@ss", "h")


@pytest.mark.parametrize(
    ("dsn", "path"),
    [
        ("sqlite:///relative/dwarf.db", "relative/dwarf.db"),
        ("sqlite:////var/lib/dwarf.db", "/var/lib/dwarf.db"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
def test_sqlite_paths(dsn: str, path: str) -> None:
    assert parse_dsn(dsn).path == path


def test_in_memory_sqlite_is_recognised() -> None:
    assert parse_dsn("sqlite://:memory:").is_memory
    assert parse_dsn("sqlite:///shared?mode=memory&cache=shared").is_memory
    assert not parse_dsn("sqlite:///file.db").is_memory


@pytest.mark.parametrize(
    ("dsn", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("db.example/dwarf", "no scheme"),
        ("oracle://u:p@h/db", "unsupported DSN scheme 'oracle'"),
        ("postgresql://h", "names no database"),
        ("postgresql://h/", "names no database"),
        ("postgresql://h:notaport/db", "not a number"),
        ("postgresql://h:70000/db", "not a number"),
        ("postgresql://h/db?a=1&a=2", "more than once"),
        ("postgresql://h/db?novalue", "malformed query"),
        ("postgresql://h/db#frag", "fragment"),
        ("sqlite://", "names no file"),
        ("sqlite://host/file.db", "host part"),
    ],
)
def test_bad_dsns_are_refused_with_a_reason(dsn: str, fragment: str) -> None:
    with pytest.raises(BadRequestError, match=fragment):
        parse_dsn(dsn)


@pytest.mark.parametrize(
    "dsn",
    [
        f"oracle://u:{SECRET}@h/db",
        f"postgresql://u:{SECRET}@h:bad/db",
        f"postgresql://u:{SECRET}@h",
        f"postgresql://u:{SECRET}@h/db#x",
        f"postgresql://u:{SECRET}@h/db?x",
        f"u:{SECRET}@h/db",
        # An unencoded '/' in the password makes the rest look like a path.
        f"postgresql://u:ab/{SECRET}@h/db",
        f"postgresql://u:{SECRET}/x@h",
        f"postgresql://u@h/db?password={SECRET}&password=x",
    ],
)
def test_errors_never_contain_the_password(dsn: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_dsn(dsn)
    assert SECRET not in str(caught.value)


def test_repr_and_str_hide_the_password() -> None:
    dsn = parse_dsn(f"postgresql://u:{SECRET}@h/db?sslpassword={SECRET}")
    assert SECRET not in repr(dsn)
    assert SECRET not in repr([dsn])
    assert SECRET not in str(dsn)
    assert str(dsn) == "postgresql://u:***@h/db?sslpassword=***"


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        (
            "postgres://u:pw@h/db?password=pw&sslmode=x",
            "postgres://u:***@h/db?password=***&sslmode=x",
        ),
        ("mysql://root@h/db", "mysql://root@h/db"),
        ("mysql://h/db?app=a@b", "mysql://h/db?app=a@b"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("postgresql://u:pa@ss@h/db", "postgresql://u:***@h/db"),
        ("not a dsn at all", "not a dsn at all"),
    ],
)
def test_mask_dsn(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked


@settings(max_examples=200)
@given(
    user=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    password=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=4),
    encode=st.booleans(),
)
@example(user="", password="@/00", encode=False)  # read as an empty password before the fix
def test_mask_dsn_never_shows_a_password(user: str, password: str, encode: bool) -> None:
    shown = quote(password, safe="") if encode else password
    visible = f"postgresql://{quote(user, safe='')}:***@db.example:5432/dwarf"
    assume(shown not in visible)
    masked = mask_dsn(f"postgresql://{quote(user, safe='')}:{shown}@db.example:5432/dwarf")
    assert shown not in masked
    if encode:
        assert masked == visible


def test_for_shard_replaces_the_placeholder_with_a_one_based_index() -> None:
    dsn = parse_dsn("postgresql://u:p%25d@db%d.example/dwarf_%d?application_name=shard%d")
    shard = dsn.for_shard(3)
    assert (shard.host, shard.database, shard.params["application_name"]) == (
        "db3.example",
        "dwarf_3",
        "shard3",
    )
    # The password's literal %d is part of the password, never a shard number.
    assert shard.password == "p%d"


def test_placeholder_survives_percent_decoding() -> None:
    # "%d1" would otherwise decode as the byte 0xD1.
    assert parse_dsn("mysql://h/dwarf_%d1").database == "dwarf_%d1"
    assert parse_dsn("sqlite:///shard_%d.db").for_shard(2).path == "shard_2.db"


def test_shard_dsns_requires_the_placeholder_for_more_than_one_shard() -> None:
    with pytest.raises(BadRequestError, match="must contain %d") as caught:
        shard_dsns(f"postgresql://u:{SECRET}@h/dwarf", 2)
    assert SECRET not in str(caught.value)


def test_shard_dsns_lists_each_shard_in_order() -> None:
    shards = shard_dsns("mysql://h/dwarf_%d", 3)
    assert [s.database for s in shards] == ["dwarf_1", "dwarf_2", "dwarf_3"]


def test_single_shard_fills_a_placeholder_with_one() -> None:
    assert [s.database for s in shard_dsns("mysql://h/dwarf_%d", 1)] == ["dwarf_1"]
    assert [s.database for s in shard_dsns(parse_dsn("mysql://h/dwarf"), 1)] == ["dwarf"]


def test_shard_count_must_be_positive() -> None:
    with pytest.raises(BadRequestError, match="1 or more"):
        shard_dsns("mysql://h/dwarf_%d", 0)


def test_dialect_names_accept_scheme_aliases() -> None:
    assert dialect_named("postgres") == "postgresql"
    assert dialect_named("MariaDB") == "mysql"
    assert dialect_named("mssql") == "sqlserver"
    with pytest.raises(BadRequestError, match="unknown dialect 'oracle'"):
        dialect_named("oracle")


def test_scrub_removes_raw_and_encoded_secrets() -> None:
    assert scrub("login p@ss failed (p%40ss)", ("p@ss",)) == "login *** failed (***)"


def test_dsn_built_directly_masks_its_password() -> None:
    dsn = Dsn(dialect="mysql", host="h", user="u", password=SECRET, database="d")
    assert dsn.masked() == "mysql://u:***@h/d"
    assert dsn.secrets() == (SECRET,)
