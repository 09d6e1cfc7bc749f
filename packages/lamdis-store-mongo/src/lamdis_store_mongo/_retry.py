"""Retry once on a lost connection, then fail with a clear error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from lamdis_core.logs import get_logger
from pymongo.errors import ConnectionFailure

from lamdis_store_mongo._errors import MongoStoreError
from lamdis_store_mongo._locks import LockTimeoutError

logger = get_logger()

T = TypeVar("T")


async def once_more(what: str, where: str, op: Callable[[], Awaitable[T]]) -> T:
    """Run ``op``; on a connection failure run it once more (``op`` must be idempotent).

    PyMongo's own retryable writes cover a replica set; against a standalone server (and
    FerretDB) the driver does not retry writes, so the store does, with operations written to
    be safe to repeat.
    """
    try:
        return await op()
    except ConnectionFailure as first:
        logger.warning("mongo_retrying", operation=what, error=str(first))
        try:
            return await op()
        except ConnectionFailure as second:
            raise MongoStoreError(
                f"{what}: MongoDB at {where} did not answer, even after one retry ({second})"
            ) from second
        except LockTimeoutError as locked:
            raise MongoStoreError(f"{what}: {locked}") from locked
    except LockTimeoutError as locked:
        raise MongoStoreError(f"{what}: {locked}") from locked
