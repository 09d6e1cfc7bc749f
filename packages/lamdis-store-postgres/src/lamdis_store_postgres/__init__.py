"""lamdis run store and catalog on PostgreSQL (asyncpg), in the table layout of lamdis-runs.

``open_store(env)`` is the ``lamdis.stores`` entry point ``postgres``; ``migrate(dsn)`` applies
the shipped migrations (what ``lamdis db migrate`` calls).
"""

from lamdis_store_postgres._migrate import migrate, missing_migrations, shipped_migrations
from lamdis_store_postgres.errors import (
    DatabaseNotMigratedError,
    MigrationError,
    PostgresStoreError,
    StoreConfigError,
    StoreUnavailableError,
)
from lamdis_store_postgres.store import (
    PostgresCatalog,
    PostgresRunStore,
    create_pool,
    new_run_id,
    open_store,
)

__all__ = [
    "DatabaseNotMigratedError",
    "MigrationError",
    "PostgresCatalog",
    "PostgresRunStore",
    "PostgresStoreError",
    "StoreConfigError",
    "StoreUnavailableError",
    "create_pool",
    "migrate",
    "missing_migrations",
    "new_run_id",
    "open_store",
    "shipped_migrations",
]
