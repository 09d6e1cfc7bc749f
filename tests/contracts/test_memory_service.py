"""The service layer on the in-memory store and catalog."""

from __future__ import annotations

import pytest
from lamdis_core.testing import InMemoryCatalog, InMemoryRunStore

from tests.contracts.service import RunServiceContract, Stores


class TestRunServiceInMemory(RunServiceContract):
    @pytest.fixture
    async def stores(self) -> Stores:
        return InMemoryRunStore(), InMemoryCatalog()
