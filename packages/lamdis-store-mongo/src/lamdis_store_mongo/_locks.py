"""Per-document write locks, for servers whose single-document updates are not atomic.

FerretDB 1.x applies ``update``/``findAndModify`` as read, modify in memory, write back by
``_id``, with nothing stopping a concurrent writer in between: two ``$push`` calls on one run
can lose one item, and two ``findAndModify`` claims can both "win" one run. What FerretDB does
make atomic is inserting a document whose ``_id`` already exists (it fails with E11000). So on
FerretDB every write to a run document first inserts ``{_id: <run id>}`` into the
``lamdis_locks`` collection, writes, and deletes the lock again. A lock left by a process that
died is taken over once it is older than its time to live.

On MongoDB proper none of this is needed (``findAndModify`` and ``$push`` are atomic per
document) and the store runs without these locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from lamdis_core.logs import get_logger
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

logger = get_logger()

LOCKS_COLLECTION = "lamdis_locks"


class LockTimeoutError(Exception):
    """The lock on a document could not be taken in time."""


class DocumentLocks:
    """Mutual exclusion per document id, across tasks and across processes."""

    def __init__(
        self, collection: AsyncCollection[dict[str, Any]], *, ttl: float = 15.0, wait: float = 20.0
    ) -> None:
        self._collection = collection
        self._ttl = ttl
        self._wait = wait
        # tasks of this process queue here first, so they do not poll the server for a lock
        # their neighbour holds
        self._local: weakref.WeakValueDictionary[Any, asyncio.Lock] = weakref.WeakValueDictionary()

    def _local_lock(self, key: Any) -> asyncio.Lock:
        lock = self._local.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._local[key] = lock
        return lock

    def busy_here(self, key: Any) -> bool:
        """Whether a task of this process holds (or waits for) the lock on ``key``."""
        lock = self._local.get(key)
        return lock is not None and lock.locked()

    @contextlib.asynccontextmanager
    async def hold(self, key: Any, owner: str) -> AsyncIterator[None]:
        """Hold the lock on ``key``. ``owner`` must be unique per operation: taking a lock
        that the same owner already holds (a retry after a lost connection) succeeds."""
        local = self._local_lock(key)
        async with local:
            await self._acquire(key, owner)
            try:
                yield
            finally:
                await self._release(key, owner)

    @contextlib.asynccontextmanager
    async def attempt(self, key: Any, owner: str) -> AsyncIterator[bool]:
        """Try the lock on ``key`` without waiting; yields whether it is held (and releases it
        on exit when it was)."""
        local = self._local_lock(key)
        if local.locked():
            yield False
            return
        async with local:
            held = await self.try_hold(key, owner)
            try:
                yield held
            finally:
                if held:
                    await self._release(key, owner)

    async def try_hold(self, key: Any, owner: str) -> bool:
        """Take the lock without waiting; ``release`` it afterwards."""
        try:
            await self._collection.insert_one(
                {"_id": key, "owner": owner, "expiresAt": self._expiry()}
            )
        except DuplicateKeyError:
            return await self._take_over_if_stale(key, owner)
        return True

    async def release(self, key: Any, owner: str) -> None:
        await self._release(key, owner)

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._ttl)

    async def _acquire(self, key: Any, owner: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        delay = 0.002
        while True:
            if await self.try_hold(key, owner):
                return
            if loop.time() >= deadline:
                raise LockTimeoutError(
                    f"the write lock on {key!r} was held by another process for over "
                    f"{self._wait:.0f}s"
                )
            await asyncio.sleep(delay * (0.5 + random.random()))  # jitter, not crypto
            delay = min(delay * 2, 0.05)

    async def _take_over_if_stale(self, key: Any, owner: str) -> bool:
        current = await self._collection.find_one({"_id": key})
        if current is None:
            return False  # released meanwhile; the caller tries again
        if current.get("owner") == owner:
            return True  # our own lock, left by an attempt that lost its connection
        expires = current.get("expiresAt")
        if isinstance(expires, datetime) and expires.astimezone(UTC) < datetime.now(UTC):
            logger.warning(
                "mongo_stale_lock_taken_over", key=str(key), previous=current.get("owner")
            )
            await self._collection.delete_one({"_id": key, "owner": current.get("owner")})
        return False

    async def _release(self, key: Any, owner: str) -> None:
        await self._collection.delete_one({"_id": key, "owner": owner})
