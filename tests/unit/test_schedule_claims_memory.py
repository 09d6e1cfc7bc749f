"""The schedule-claims contract held against the in-memory catalog."""

from __future__ import annotations

import pytest
from lamdis_core.testing.memory import InMemoryCatalog

from tests.contracts.schedule import ScheduleClaimsContract


class TestInMemoryScheduleClaims(ScheduleClaimsContract):
    @pytest.fixture
    def catalog(self) -> InMemoryCatalog:
        return InMemoryCatalog()
