"""Parse, shard and mask database DSNs.

A DSN is a URL whose scheme picks the dialect: ``postgresql://`` (or ``postgres://``),
``mysql://`` (or ``mariadb://``), ``sqlite:///path`` (or ``sqlite://:memory:``) and ``mssql://``.
``%d`` anywhere outside the password is the 1-based shard index, substituted by
``Dsn.for_shard``; required when there is more than one shard (docs/internals/engine.md#e5).

Constraints:

- A password must never reach a log line, an error message or a ``repr``: ``Dsn`` hides it from
  ``repr``/``str``, ``mask_dsn`` works even on text that does not parse, and every error raised
  here is built from masked text.
- ``%d`` is protected before percent-decoding, since ``%d1`` would otherwise decode to a byte.
- SQLite paths follow the common URL convention: ``sqlite:///rel/file.db`` is relative to the
  working directory and ``sqlite:////abs/file.db`` is absolute (one slash separates the empty
  host from the path).

This module imports nothing but the standard library.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from dwarf.errors import BadRequestError

__all__ = [
    "DIALECTS",
    "Dialect",
    "Dsn",
    "dialect_named",
    "mask_dsn",
    "memory_dsn",
    "private_memory",
    "parse_dsn",
    "scrub",
    "shard_dsns",
]

Dialect = Literal["postgresql", "mysql", "sqlite", "sqlserver"]

DIALECTS: Final[tuple[Dialect, ...]] = ("postgresql", "mysql", "sqlite", "sqlserver")

_SCHEMES: Final[Mapping[str, Dialect]] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "mssql": "sqlserver",
    "sqlserver": "sqlserver",
}

_CANONICAL_SCHEME: Final[Mapping[Dialect, str]] = {
    "postgresql": "postgresql",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "sqlserver": "mssql",
}

_SCHEME_HINT: Final = "use postgresql://, mysql://, mariadb://, sqlite:///path or mssql://"

SHARD_PLACEHOLDER: Final = "%d"
# Stands in for %d while the URL is percent-decoded; it cannot occur in a URL.
_SENTINEL: Final = "\x00shard\x00"

MASK: Final = "***"
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)
_MEMORY: Final = ":memory:"


@dataclass(frozen=True, slots=True)
class Dsn:
    """A parsed DSN. ``repr`` and ``str`` never show the password."""

    dialect: Dialect
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = ""
    path: str = ""
    """SQLite only: the file path, or ``:memory:``."""
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def is_sharded(self) -> bool:
        """True when ``%d`` appears outside the password, so each shard gets its own database."""
        texts = (self.host, self.user, self.database, self.path, *self.params.values())
        return any(SHARD_PLACEHOLDER in text for text in texts)

    @property
    def is_memory(self) -> bool:
        """True for an in-memory SQLite database."""
        return self.dialect == "sqlite" and (
            self.path == _MEMORY or self.params.get("mode") == "memory"
        )

    def for_shard(self, index: int) -> Dsn:
        """This DSN with ``%d`` replaced by the 1-based shard ``index`` (unchanged without one)."""
        if index < 1:
            raise BadRequestError(f"shard index must be 1 or more, got {index}")
        number = str(index)

        def sub(text: str) -> str:
            return text.replace(SHARD_PLACEHOLDER, number)

        return dataclasses.replace(
            self,
            host=sub(self.host),
            user=sub(self.user),
            database=sub(self.database),
            path=sub(self.path),
            params=MappingProxyType({k: sub(v) for k, v in self.params.items()}),
        )

    def masked(self) -> str:
        """The DSN as a URL, its password and secret-looking parameters replaced by ``***``."""
        scheme = _CANONICAL_SCHEME[self.dialect]
        query = _render_query(self.params, mask=True)
        if self.dialect == "sqlite":
            if self.path == _MEMORY:
                return f"sqlite://{_MEMORY}{query}"
            return f"sqlite:///{_quote(self.path)}{query}"
        userinfo = ""
        if self.user or self.password:
            userinfo = _quote(self.user)
            if self.password:
                userinfo += ":" + MASK
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{scheme}://{userinfo}{host}{port}/{_quote(self.database)}{query}"

    def secrets(self) -> tuple[str, ...]:
        """Every secret this DSN carries, for scrubbing driver messages."""
        found = [self.password] if self.password else []
        found += [v for k, v in self.params.items() if _SECRET_PARAM.search(k) and v]
        return tuple(found)

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"Dsn({self.masked()!r})"


def parse_dsn(dsn: str) -> Dsn:
    """Parse ``dsn``; raise ``BadRequestError`` naming the problem (never echoing a password)."""
    text = dsn.strip()
    if not text:
        raise BadRequestError(f"the DSN is empty: {_SCHEME_HINT}")
    scheme, sep, _ = text.partition("://")
    if not sep or not scheme:
        raise BadRequestError(f"the DSN {mask_dsn(text)!r} has no scheme: {_SCHEME_HINT}")
    dialect = _SCHEMES.get(scheme.lower())
    if dialect is None:
        raise BadRequestError(f"unsupported DSN scheme {scheme!r}: {_SCHEME_HINT}")
    protected = text.replace(SHARD_PLACEHOLDER, _SENTINEL)
    parts = urlsplit(protected)
    params = _parse_query(parts.query, text)
    if parts.fragment:
        raise BadRequestError(f"the DSN {mask_dsn(text)!r} has a '#' fragment, which means nothing")
    if dialect == "sqlite":
        return _parse_sqlite(parts.netloc, parts.path, params, text)
    return _parse_server(dialect, parts.netloc, parts.path, params, text)


def dialect_named(name: str) -> Dialect:
    """The dialect a name or DSN scheme stands for (``postgres`` -> ``postgresql``)."""
    dialect = _SCHEMES.get(name.strip().lower())
    if dialect is None:
        raise BadRequestError(f"unknown dialect {name!r}: choose one of {', '.join(DIALECTS)}")
    return dialect


def shard_dsns(dsn: str | Dsn, shards: int) -> list[Dsn]:
    """One DSN per shard, 1-based; ``%d`` is required when ``shards`` is more than one."""
    parsed = parse_dsn(dsn) if isinstance(dsn, str) else dsn
    if shards < 1:
        raise BadRequestError(f"the number of shards must be 1 or more, got {shards}")
    if shards > 1 and not parsed.is_sharded:
        raise BadRequestError(
            f"the DSN {parsed.masked()!r} must contain %d (the shard number) "
            f"when there are {shards} shards"
        )
    return [parsed.for_shard(i) for i in range(1, shards + 1)]


def mask_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***``; safe on text that does not parse.

    Purely textual, so it also masks malformed DSNs; when the text is ambiguous (an unencoded
    ``@`` or ``/`` in a password) it masks too much rather than too little.
    """
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        # Perhaps a libpq keyword string (host=... password=...): mask its secret values.
        scheme, rest = "", _mask_keywords(dsn)
    well_formed = _USERINFO_WITH_PASSWORD.match(rest)
    if well_formed and "@" in rest[well_formed.end() :]:
        # Another '@' further on: the password may hold an unencoded '@' or '/' (':@/00@host'
        # reads as an empty password otherwise). Ambiguous, so mask up to the last '@'.
        well_formed = None
    if well_formed:
        rest = f"{well_formed.group(1)}:{MASK}@{rest[well_formed.end() :]}"
    elif "@" in rest and not (_USERINFO_WITHOUT_PASSWORD.match(rest) and rest.count("@") == 1):
        # Ambiguous: treat everything up to the last '@' as userinfo.
        userinfo, tail = rest[: rest.rfind("@")], rest[rest.rfind("@") + 1 :]
        user, colon, _ = userinfo.partition(":")
        if colon:
            rest = f"{user}:{MASK}@{tail}"
    masked = _mask_query_text(rest)
    return f"{scheme}://{masked}" if sep else masked


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every occurrence of each secret (raw or percent-encoded) replaced."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, MASK)
    return text


# user:password@host where neither part holds a reserved character and the host holds no '@'.
_USERINFO_WITH_PASSWORD = re.compile(r"([^:@/?#]*):[^@/?#]*@(?=[^@/?#]*(?:[/?#]|$))")
_USERINFO_WITHOUT_PASSWORD = re.compile(r"[^:@/?#]*@[^@/?#]*(?:[/?#]|$)")


_SECRET_KEYWORD = re.compile(
    r"((?:^|[\s,;])[\w.-]*(?:pass|pwd|secret|token)[\w.-]*\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)",
    re.IGNORECASE,
)


def _mask_keywords(text: str) -> str:
    """``key=value`` text (libpq's form) with the values of secret-looking keys masked."""
    return _SECRET_KEYWORD.sub(lambda m: m.group(1) + MASK, text)


def _mask_query_text(text: str) -> str:
    return re.sub(
        r"([?&][^=&#]*(?:pass|pwd|secret|token)[^=&#]*=)[^&#]*",
        lambda m: m.group(1) + MASK,
        text,
        flags=re.IGNORECASE,
    )


def _parse_query(query: str, original: str) -> Mapping[str, str]:
    params: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise BadRequestError(
            f"the DSN {mask_dsn(original)!r} has a malformed query string"
        ) from None
    for key, value in pairs:
        key, value = _restore(key), _restore(value)
        if key in params:
            raise BadRequestError(f"the DSN parameter {key!r} is given more than once")
        params[key] = value
    return MappingProxyType(params)


def _parse_sqlite(netloc: str, path: str, params: Mapping[str, str], original: str) -> Dsn:
    if netloc == _MEMORY:
        if path:
            raise BadRequestError("write an in-memory SQLite DSN as sqlite://:memory:")
        return Dsn(dialect="sqlite", path=_MEMORY, params=params)
    if netloc:
        raise BadRequestError(
            f"the SQLite DSN {mask_dsn(original)!r} has a host part: write sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite://:memory:"
        )
    file_path = _restore(unquote(path[1:] if path.startswith("/") else path))
    if not file_path:
        raise BadRequestError(
            "the SQLite DSN names no file: write sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite://:memory:"
        )
    return Dsn(dialect="sqlite", path=file_path, params=params)


def _parse_server(
    dialect: Dialect, netloc: str, path: str, params: Mapping[str, str], original: str
) -> Dsn:
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        userinfo, hostport = "", netloc
    user, colon, password = userinfo.partition(":")
    host, port = _split_hostport(hostport, original)
    database = _restore(unquote(path.lstrip("/")))
    if not database:
        raise BadRequestError(f"the DSN {mask_dsn(original)!r} names no database after the host")
    if "/" in database or "@" in database:
        raise BadRequestError(
            f"the DSN {mask_dsn(original)!r} has a '/' or '@' after its host: percent-encode "
            "special characters in the user and password ('@' as %40, '/' as %2F)"
        )
    return Dsn(
        dialect=dialect,
        host=host,
        port=port,
        user=_restore(unquote(user)),
        # A literal %d in a password is just part of the password.
        password=_restore(unquote(password)) if colon else "",
        database=database,
        params=params,
    )


def _split_hostport(hostport: str, original: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, bracket, tail = hostport[1:].partition("]")
        if not bracket:
            raise BadRequestError(f"the DSN {mask_dsn(original)!r} has an unclosed '[' in its host")
        port_text = tail[1:] if tail.startswith(":") else tail
        if tail and not tail.startswith(":"):
            raise BadRequestError(f"the DSN {mask_dsn(original)!r} has a malformed host")
    else:
        host, _, port_text = hostport.partition(":")
    host = _restore(unquote(host))
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        # The "port" may be the tail of a password with an unencoded '/': never echo it.
        raise BadRequestError(
            f"the DSN {mask_dsn(original)!r} has a port that is not a number from 1 to 65535 "
            "(percent-encode special characters in the password: '/' as %2F, '@' as %40)"
        )
    return host, int(port_text)


def _restore(text: str) -> str:
    return text.replace(_SENTINEL, SHARD_PLACEHOLDER)


def _quote(text: str) -> str:
    # '%' stays literal so a %d shard placeholder reads as written.
    return quote(text, safe="/:%")


def _render_query(params: Mapping[str, str], *, mask: bool) -> str:
    if not params:
        return ""
    items = []
    for key, value in params.items():
        shown = MASK if mask and _SECRET_PARAM.search(key) else value
        items.append(f"{quote(key, safe='')}={quote(shown, safe='%*:/')}")
    return "?" + "&".join(items)


def private_memory(dsn: Dsn, label: str) -> Dsn:
    """A bare ``sqlite://:memory:`` made one named shared-cache database per shard.

    A bare ``:memory:`` database belongs to the one connection that opened it, so the engine's
    migration connection and its store would each see an empty database of their own. Named
    after ``label`` (unique per engine), the databases are still private to that engine and
    vanish with its last connection. Any other DSN is returned as it is.
    """
    if dsn.path != _MEMORY or dsn.params:
        return dsn
    return parse_dsn(f"sqlite:///dwarf-{_database_label(label)}-%d?mode=memory&cache=shared")


def memory_dsn(label: str) -> str:
    """A DSN of private in-memory databases (one per shard) that engines naming ``label`` share.

    For tests: the databases live while a store holds them and vanish when the last closes.
    """
    return f"sqlite:///dwarf-test-{_database_label(label)}-%d?mode=memory&cache=shared"


def _database_label(label: str) -> str:
    """``label`` as safe in a database name: letters, digits, ``-`` and ``_``, at most 64."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)[:64]
