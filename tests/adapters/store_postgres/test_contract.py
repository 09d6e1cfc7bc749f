"""The PostgreSQL store and catalog hold the shared store contracts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_store_postgres import PostgresCatalog, PostgresRunStore, create_pool

from tests.contracts.store import CatalogContract, RunStoreContract

pytestmark = pytest.mark.postgres


class TestPostgresRunStore(RunStoreContract):
    @pytest.fixture
    async def store(self, postgres_dsn: str) -> AsyncIterator[PostgresRunStore]:
        store = PostgresRunStore(await create_pool(postgres_dsn, max_size=8))
        yield store
        await store.aclose()


class TestPostgresCatalog(CatalogContract):
    @pytest.fixture
    async def catalog(self, postgres_dsn: str) -> AsyncIterator[PostgresCatalog]:
        pool = await create_pool(postgres_dsn, max_size=4)
        yield PostgresCatalog(pool)
        await pool.close()
