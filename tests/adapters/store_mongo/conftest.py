"""Mongo adapter tests run against the real FerretDB of ``tests.fixtures.ferretdb``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.ferretdb import FerretDBServer, start_ferretdb

_SERVER_FIXTURES = {"mongo_url", "ferretdb", "ferretdb_url", "store", "catalog", "private_ferretdb"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "store_mongo" in str(item.path) and _SERVER_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.mongo)


@pytest.fixture
def private_ferretdb() -> Iterator[FerretDBServer]:
    """A FerretDB of this test's own, which the test may kill and restart."""
    server = start_ferretdb()
    try:
        yield server
    finally:
        server.close()
