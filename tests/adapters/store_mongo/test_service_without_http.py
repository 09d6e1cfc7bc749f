"""The worker pool of :mod:`lamdis_core.service` runs queued runs on MongoDB (FerretDB) in a
process that never imports lamdis_http."""

from __future__ import annotations

import pytest

from tests.contracts.embedder import run_embedder

pytestmark = pytest.mark.mongo


def test_the_worker_runs_on_ferretdb_without_lamdis_http(mongo_url: str) -> None:
    result, imported = run_embedder("lamdis_store_mongo", "MONGO_URL", mongo_url, "mongo")
    assert result == "failed 1 1 ['greets', 'refuses'] 1 True"
    assert imported == "[]"
