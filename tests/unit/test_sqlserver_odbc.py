"""SQL Server's ODBC connection string and connection errors, as an operator would meet them.

The connection string is read back with the ODBC rules (a value in braces may hold anything, a
``}`` inside it is doubled), as unixODBC and FreeTDS read it
(``FreeTDS/freetds:src/odbc/unittests/connection_string_parse.c``).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dwarf._storage._dsn import parse_dsn
from dwarf._storage._sqlserver import odbc_connection_string, sqlserver_error
from dwarf.errors import BadRequestError, DwarfError, UnavailableError

SECRET = "s3cr3t;}{=Pa55"


def read_odbc(text: str) -> dict[str, str]:
    """The attributes of an ODBC connection string, values unescaped."""
    attributes: dict[str, str] = {}
    i = 0
    while i < len(text):
        key_end = text.index("=", i)
        key = text[i:key_end].upper()
        i = key_end + 1
        if text.startswith("{", i):
            value, i = [], i + 1
            while True:
                if text.startswith("}}", i):
                    value.append("}")
                    i += 2
                elif text[i] == "}":
                    i += 1
                    break
                else:
                    value.append(text[i])
                    i += 1
            attributes[key] = "".join(value)
        else:
            end = text.find(";", i)
            end = len(text) if end < 0 else end
            attributes[key] = text[i:end]
            i = end
        if i < len(text):
            assert text[i] == ";", text
            i += 1
    return attributes


def mssql(password: str = SECRET, query: str = "") -> str:
    return f"mssql://dwarf:{quote(password, safe='')}@db.example:14330/flows_1{query}"


def test_freetds_string_names_server_port_database_login_and_protocol() -> None:
    attributes = read_odbc(odbc_connection_string(parse_dsn(mssql())))
    assert attributes == {
        "DRIVER": "FreeTDS",
        "SERVER": "db.example",
        "PORT": "14330",
        "DATABASE": "flows_1",
        "UID": "dwarf",
        "PWD": SECRET,
        "TDS_VERSION": "7.4",
        "CLIENTCHARSET": "UTF-8",
    }


def test_port_defaults_to_1433_and_tds_version_can_be_chosen() -> None:
    dsn = parse_dsn("mssql://sa:pw@127.0.0.1/db?tds_version=8.0")
    attributes = read_odbc(odbc_connection_string(dsn))
    assert (attributes["PORT"], attributes["TDS_VERSION"]) == ("1433", "8.0")


def test_another_odbc_driver_gets_host_comma_port_and_no_freetds_keywords() -> None:
    dsn = parse_dsn(mssql(query="?driver=ODBC+Driver+18+for+SQL+Server"))
    attributes = read_odbc(odbc_connection_string(dsn))
    assert attributes["DRIVER"] == "ODBC Driver 18 for SQL Server"
    assert attributes["SERVER"] == "db.example,14330"
    assert not {"PORT", "TDS_VERSION", "CLIENTCHARSET"} & attributes.keys()


def test_without_a_user_no_login_is_sent() -> None:
    attributes = read_odbc(odbc_connection_string(parse_dsn("mssql://db.example/flows")))
    assert not {"UID", "PWD"} & attributes.keys()


# Any character a URL can carry (percent-encoded), NUL and lone surrogates aside.
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


@given(
    user=st.text(_CHARS, min_size=1),
    password=st.text(_CHARS),
    database=st.text(_CHARS, min_size=1).filter(lambda name: not {"/", "@"} & set(name)),
)
def test_no_value_can_end_its_attribute_or_add_another(
    user: str, password: str, database: str
) -> None:
    # e.g. a password "x};DATABASE={master" must stay one password, not pick the database.
    url = (
        f"mssql://{quote(user, safe='')}:{quote(password, safe='')}@h:1/{quote(database, safe='')}"
    )
    attributes = read_odbc(odbc_connection_string(parse_dsn(url)))
    assert attributes["UID"] == user
    assert attributes["PWD"] == password
    assert attributes["DATABASE"] == database
    assert set(attributes) == {
        "DRIVER",
        "SERVER",
        "PORT",
        "DATABASE",
        "UID",
        "PWD",
        "TDS_VERSION",
        "CLIENTCHARSET",
    }


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("?encrypt=yes", "unsupported SQL Server DSN parameter 'encrypt'"),
        ("?login_timeout=soon", "'login_timeout' must be a whole number"),
        ("?lock_timeout=-1", "'lock_timeout' must be a whole number"),
    ],
)
async def test_bad_dsn_parameters_are_refused_before_connecting(query: str, fragment: str) -> None:
    from dwarf._storage._sqlserver import connect_sqlserver

    with pytest.raises(BadRequestError, match=fragment) as caught:
        await connect_sqlserver(parse_dsn(mssql(query=query)))
    assert SECRET not in str(caught.value)


class OdbcError(Exception):
    """Shaped like a pyodbc error: (SQLSTATE, message ending in native code and function)."""


@pytest.mark.parametrize(
    ("sqlstate", "message", "kind", "fragment"),
    [
        (
            "28000",
            "[28000] [FreeTDS][SQL Server]Login failed for user 'dwarf'. (18456) "
            "(SQLDriverConnect)",
            BadRequestError,
            "refused the login of user 'dwarf'",
        ),
        (
            "42000",
            '[42000] [FreeTDS][SQL Server]Cannot open database "flows_1" requested by the '
            "login. The login failed. (4060) (SQLDriverConnect)",
            BadRequestError,
            "database 'flows_1' does not exist",
        ),
        (
            "08S01",
            "[08S01] [FreeTDS][SQL Server]Unable to connect: Adaptive Server is unavailable "
            "or does not exist (20009) (SQLDriverConnect)",
            UnavailableError,
            "cannot reach SQL Server at db.example:14330: Unable to connect: Adaptive Server "
            "is unavailable or does not exist (20009)",
        ),
        (
            "01000",
            "[01000] [unixODBC][Driver Manager]Can't open lib 'FreeTDS' : file not found (0) "
            "(SQLDriverConnect)",
            UnavailableError,
            "the ODBC driver 'FreeTDS' is not installed (FreeTDS on Debian: apt-get install "
            "tdsodbc",
        ),
        (
            "IM002",
            "[IM002] [unixODBC][Driver Manager]Data source name not found and no default "
            "driver specified (0) (SQLDriverConnect)",
            UnavailableError,
            "the ODBC driver 'FreeTDS' is not installed",
        ),
        (
            "HY000",
            # The password as the connection string escapes it, should a driver echo that.
            "[HY000] [FreeTDS][SQL Server]PWD={"
            + SECRET.replace("}", "}}")
            + "} was odd (0) (SQLDriverConnect)",
            DwarfError,
            "SQL Server at db.example:14330: PWD=*** was odd (0)",
        ),
    ],
    ids=["login", "database", "unreachable", "no-driver", "no-driver-name", "other"],
)
def test_connection_errors_say_what_to_do_and_never_show_the_password(
    sqlstate: str, message: str, kind: type[DwarfError], fragment: str
) -> None:
    error = sqlserver_error(OdbcError(sqlstate, message), parse_dsn(mssql()))
    assert type(error) is kind
    assert fragment in str(error), str(error)
    assert SECRET not in str(error)
    assert "\n" not in str(error)
