"""Errors the PostgreSQL store raises on purpose."""

from __future__ import annotations

from lamdis_core.domain.errors import LamdisError


class PostgresStoreError(LamdisError):
    """Base class of this package's errors."""


class StoreConfigError(PostgresStoreError):
    """The connection settings are missing or unusable (nothing was connected)."""


class DatabaseNotMigratedError(PostgresStoreError):
    """The database lacks lamdis's tables, or some of its migrations; run ``lamdis db migrate``."""


class MigrationError(PostgresStoreError):
    """A migration could not be applied, or an applied one no longer matches its file."""


class StoreUnavailableError(PostgresStoreError):
    """PostgreSQL could not be reached, or the connection was lost and could not be retried.

    Attributes:
        operation: the store method that failed.
    """

    def __init__(self, message: str, *, operation: str) -> None:
        super().__init__(message)
        self.operation = operation
