"""The schedule-claims contract held against PostgresCatalog."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_store_postgres import PostgresCatalog, create_pool

from tests.contracts.schedule import ScheduleClaimsContract


class TestPostgresScheduleClaims(ScheduleClaimsContract):
    @pytest.fixture
    async def catalog(self, postgres_dsn: str) -> AsyncIterator[PostgresCatalog]:
        pool = await create_pool(postgres_dsn)
        yield PostgresCatalog(pool)
        await pool.close()
