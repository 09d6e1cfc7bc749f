"""Versioned SQL migrations shipped in ``lamdis_store_postgres/migrations``.

Each file ``NNNN_name.sql`` is applied once, in its own transaction, and recorded with its
checksum in ``schema_migrations``. A session-level advisory lock serialises concurrent
``migrate`` calls (two processes, two CI jobs): the second waits, then finds nothing to do.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import attrs
from lamdis_core.logs import get_logger

from lamdis_store_postgres._dsn import connect_options, redact
from lamdis_store_postgres.errors import (
    DatabaseNotMigratedError,
    MigrationError,
    StoreUnavailableError,
)

logger = get_logger()

# Any constant works; it only has to be the same in every process. ("lamdis" in ASCII.)
_LOCK_KEY = 0x6C616D646973
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    "appliedAt" timestamptz NOT NULL DEFAULT now()
)
"""


@attrs.frozen
class Migration:
    """One shipped migration: ``version`` is the file name without ``.sql``."""

    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def shipped_migrations() -> list[Migration]:
    """The migrations in this package, in the order they apply."""
    found = []
    for entry in resources.files("lamdis_store_postgres").joinpath("migrations").iterdir():
        if _FILE.match(entry.name):
            found.append(
                Migration(version=entry.name[: -len(".sql")], sql=entry.read_text("utf-8"))
            )
    return sorted(found, key=lambda m: m.version)


async def migrate(dsn: str) -> list[str]:
    """Bring the database at ``dsn`` up to date; safe to run twice or from two processes.

    Args:
        dsn: a ``postgresql://`` URL (Prisma's ``?schema=`` is honoured).

    Returns:
        The versions applied by this call, oldest first (``[]`` when already up to date),
        e.g. ``["0001_initial"]``.

    Raises:
        MigrationError: a migration failed (it is rolled back; earlier ones stay), or an
            applied migration's file has changed since.
        StoreUnavailableError: PostgreSQL could not be reached.
    """
    target, options = connect_options(dsn)
    options.pop("max_size", None)
    try:
        conn = await asyncpg.connect(target, **options)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailableError(
            f"cannot connect to PostgreSQL at {redact(dsn)} to migrate: {exc}", operation="migrate"
        ) from exc
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_CREATE_LEDGER)
            applied = {
                r["version"]: r["checksum"]
                for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
            }
            for migration in shipped_migrations():
                if migration.version in applied:
                    if applied[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version} was applied to {redact(dsn)} but its "
                            "file has changed since; migrations must never be edited once "
                            "released - add a new one instead"
                        )
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                            migration.version,
                            migration.checksum,
                        )
                except asyncpg.PostgresError as exc:
                    raise MigrationError(
                        f"migration {migration.version} failed on {redact(dsn)} and was rolled "
                        f"back: {exc}"
                    ) from exc
                logger.info("postgres.migration.applied", version=migration.version)
                applied_now.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    return applied_now


async def missing_migrations(conn: asyncpg.Connection) -> list[str]:
    """The shipped versions this database has not applied (all of them on an empty one)."""
    shipped = [m.version for m in shipped_migrations()]
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return shipped
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [v for v in shipped if v not in done]


async def check_migrated(conn: asyncpg.Connection, dsn: str) -> None:
    """Raise ``DatabaseNotMigratedError`` unless every shipped migration was applied."""
    missing = await missing_migrations(conn)
    if missing:
        raise DatabaseNotMigratedError(
            f"the PostgreSQL database at {redact(dsn)} is not migrated (missing: "
            f"{', '.join(missing)}); run `lamdis db migrate` with the same DATABASE_URL first"
        )
