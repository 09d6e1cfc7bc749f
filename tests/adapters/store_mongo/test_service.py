"""The service layer on the MongoDB store and catalog (FerretDB)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_store_mongo import open_store

from tests.contracts.service import RunServiceContract, Stores

pytestmark = pytest.mark.mongo


class TestRunServiceOnFerretDB(RunServiceContract):
    @pytest.fixture
    async def stores(self, mongo_url: str) -> AsyncIterator[Stores]:
        store, catalog = await open_store({"MONGO_URL": mongo_url})
        yield store, catalog
        await store.aclose()
