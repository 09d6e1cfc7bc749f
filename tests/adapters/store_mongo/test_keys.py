"""Keys FerretDB refuses (``.``, leading ``$``) or BSON cannot hold (NUL) round-trip."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.domain.results import Check, Item, ItemStatus, Run
from lamdis_core.ports.catalog import CatalogKind
from lamdis_store_mongo import open_store
from lamdis_store_mongo._keys import escape_keys, unescape_keys
from pymongo import AsyncMongoClient

AWKWARD = {
    "$schema": {"$ref": "#/a"},
    "a.b": [{"c.d": 1}],
    "%25": "pct",
    "nul\x00key": None,
    "plain": 1,
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@given(json_values)
def test_escaping_is_reversible(value: Any) -> None:
    assert unescape_keys(escape_keys(value)) == value


def test_integers_beyond_64_bits_become_strings() -> None:
    assert escape_keys({"big": [2**64, -(2**63) - 1, 2**63 - 1, True]}) == {
        "big": [str(2**64), str(-(2**63) - 1), 2**63 - 1, True]
    }


def test_plain_keys_are_stored_as_they_are() -> None:
    doc = {"testId": "x", "gitContext": {"repo": "a/b", "run_id": 1}, "items": [{"pass": True}]}
    assert escape_keys(doc) == doc


async def test_awkward_keys_round_trip_through_runs_items_and_catalog(mongo_url: str) -> None:
    store, catalog = await open_store({"MONGO_URL": mongo_url})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        run = await store.create_run(
            Run(org_id="o", git_context=dict(AWKWARD), request=dict(AWKWARD))
        )
        assert run.id is not None
        item = Item(
            test_id="t",
            test_name="t",
            assistant="a",
            status=ItemStatus.FAILED,
            assertions=[Check(type="json_path", passed=False, details={"$.data.id": 3, **AWKWARD})],
        )
        await store.append_item(run.id, item)
        stored = await store.get_run(run.id)
        assert stored is not None
        assert stored.git_context == AWKWARD
        assert stored.request == AWKWARD
        assert stored.items == [item]

        huge = Item(
            test_id="h",
            test_name="h",
            assistant="a",
            status=ItemStatus.PASSED,
            assertions=[Check(type="json_path", passed=True, details={"actual": 2**70})],
        )
        await store.append_item(run.id, huge)  # stored, not refused
        again = await store.get_run(run.id)
        assert again is not None
        assert again.items[1].assertions[0].details == {"actual": str(2**70)}

        doc = {"id": "req", "requests": [{"transport": {"http": {"body": dict(AWKWARD)}}}]}
        saved = await catalog.upsert(CatalogKind.REQUESTS, "o", doc)
        got = await catalog.get(CatalogKind.REQUESTS, "o", "req")
        assert got == saved
        assert got is not None
        assert got["requests"] == doc["requests"]
        raw = await client.get_default_database().requests.find_one({"id": "req"})
        assert raw is not None
        assert "%%24schema" in raw["requests"][0]["transport"]["http"]["body"]
    finally:
        await client.aclose()
        await store.aclose()
