"""Progress callbacks from the engine to the CLI (progress bar) or the service (store)."""

from __future__ import annotations

from typing import Protocol

from lamdis_core.domain.plan import PlanEntry
from lamdis_core.domain.results import Item


class RunObserver(Protocol):
    """Told about progress as it happens. Calls for one test come in order; calls for
    different tests interleave. An exception raised here is logged and does not stop the run.
    """

    async def item_started(self, entry: PlanEntry, repeat: int) -> None: ...

    async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None: ...

    async def item_finished(self, item: Item) -> None: ...


class NullObserver:
    async def item_started(self, entry: PlanEntry, repeat: int) -> None:
        return None

    async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None:
        return None

    async def item_finished(self, item: Item) -> None:
        return None
