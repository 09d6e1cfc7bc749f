"""The schedule-claims contract held against MongoCatalog on FerretDB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_store_mongo import MongoCatalog, open_store

from tests.contracts.schedule import ScheduleClaimsContract


class TestMongoScheduleClaims(ScheduleClaimsContract):
    @pytest.fixture
    async def catalog(self, mongo_url: str) -> AsyncIterator[MongoCatalog]:
        store, catalog = await open_store({"MONGO_URL": mongo_url})
        yield catalog
        await store.aclose()
