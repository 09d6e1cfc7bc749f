"""Connection URLs: accept what lamdis-runs users already have in ``DATABASE_URL``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lamdis_store_postgres.errors import StoreConfigError

# Prisma-only parameters that libpq/asyncpg would reject as unknown server settings.
_PRISMA_ONLY = ("pgbouncer", "pool_timeout", "socket_timeout", "statement_cache_size")


def connect_options(dsn: str) -> tuple[str, dict[str, Any]]:
    """Split a lamdis-runs/Prisma style URL into an asyncpg DSN and extra connect options.

    ``?schema=NAME`` (Prisma's way of choosing a schema) becomes ``search_path``;
    ``connection_limit`` becomes the pool's ``max_size``; other Prisma-only parameters are
    dropped. Everything else is passed to asyncpg unchanged.
    """
    if not isinstance(dsn, str) or not dsn.strip():
        raise StoreConfigError(
            "DATABASE_URL is empty; expected postgresql://user:password@host:5432/database"
        )
    parts = urlsplit(dsn.strip())
    if parts.scheme not in ("postgresql", "postgres"):
        raise StoreConfigError(
            f"DATABASE_URL must start with postgresql:// or postgres://, got {parts.scheme!r}://"
        )
    options: dict[str, Any] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            options.setdefault("server_settings", {})["search_path"] = value
        elif key == "connection_limit":
            try:
                options["max_size"] = max(1, int(value))
            except ValueError:
                raise StoreConfigError(
                    f"DATABASE_URL: connection_limit must be a whole number, got {value!r}"
                ) from None
        elif key not in _PRISMA_ONLY:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), options


def redact(dsn: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparseable DATABASE_URL>"
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
