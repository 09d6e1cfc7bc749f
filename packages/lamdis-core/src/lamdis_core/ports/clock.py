"""Clock and id factory, so the engine is deterministic under test."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Time as the engine sees it.

    ``now`` is wall-clock UTC (for timestamps); ``monotonic`` is for measuring durations;
    ``sleep`` waits (backoff, polling). A fake clock may advance instantly.
    """

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class IdFactory(Protocol):
    """Makes ids for runs and items when the store does not (the in-memory store uses it)."""

    def new_id(self) -> str: ...


class UuidIdFactory:
    def new_id(self) -> str:
        return uuid.uuid4().hex
