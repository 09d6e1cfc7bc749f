"""The service layer on the PostgreSQL store and catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_store_postgres import open_store

from tests.contracts.service import RunServiceContract, Stores

pytestmark = pytest.mark.postgres


class TestRunServiceOnPostgres(RunServiceContract):
    @pytest.fixture
    async def stores(self, postgres_dsn: str) -> AsyncIterator[Stores]:
        store, catalog = await open_store({"DATABASE_URL": postgres_dsn})
        yield store, catalog
        await store.aclose()
