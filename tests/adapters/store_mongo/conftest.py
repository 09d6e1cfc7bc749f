"""Mongo adapter tests run against the real FerretDB of ``tests.fixtures.ferretdb``."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "store_mongo" in str(item.path):
            item.add_marker(pytest.mark.mongo)
