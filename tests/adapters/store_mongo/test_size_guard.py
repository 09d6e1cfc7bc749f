"""The size guard keeps a run document under MongoDB's 16 MiB for 1,000 items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import bson
import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.domain.results import Check, Item, ItemStatus, Run, TranscriptEntry
from lamdis_store_mongo import MongoRunStore, MongoStoreError, open_store
from lamdis_store_mongo._convert import make_mongo_converter
from lamdis_store_mongo._keys import escape_keys, unescape_keys
from lamdis_store_mongo._trim import ITEM_MAX_BYTES, fit_item
from pymongo import AsyncMongoClient

CONVERTER = make_mongo_converter()
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _long_item(n: int, *, turns: int = 8, chars: int = 4000) -> Item:
    """As big as the engine makes one: maxTurns turns, each entry trimmed to 4,000 chars."""
    transcript = [
        TranscriptEntry(role=role, content=f"{role} {n}/{t} " + "x" * chars)
        for t in range(turns)
        for role in ("user", "assistant")
    ]
    return Item(
        test_id=f"t{n}",
        test_name=f"long test {n}",
        assistant="bot",
        status=ItemStatus.FAILED,
        transcript=transcript,
        assertions=[Check(type="assistant_check", passed=False, details={"reasoning": "r" * 3000})],
        started_at=T0,
    )


def test_a_small_item_is_stored_untouched() -> None:
    doc = CONVERTER.unstructure(
        Item(test_id="a", test_name="a", assistant="b", status=ItemStatus.PASSED)
    )
    fitted, size = fit_item(doc, max_bytes=ITEM_MAX_BYTES)
    assert fitted is doc
    assert size == len(bson.encode(doc))


def test_a_long_item_is_trimmed_to_the_budget_keeping_its_ends() -> None:
    doc = CONVERTER.unstructure(_long_item(1, turns=30))
    fitted, size = fit_item(doc, max_bytes=ITEM_MAX_BYTES)
    assert size <= ITEM_MAX_BYTES
    assert fitted["testId"] == "t1"
    assert fitted["status"] == "failed"
    transcript = fitted["transcript"]
    assert transcript[0]["content"].startswith("user 1/0 ")
    assert transcript[-1]["content"].startswith("assistant 1/29 ")
    assert any("transcript entries trimmed" in e["content"] for e in transcript)
    assert "characters trimmed" in transcript[0]["content"]
    assert fitted["artifacts"]["log"][-1].startswith("lamdis-store-mongo: item trimmed")
    assert len(doc["transcript"]) == 60  # the input is not modified


@given(
    transcript=st.lists(
        st.tuples(st.sampled_from(["user", "assistant"]), st.text(max_size=3000)), max_size=60
    ),
    log=st.lists(st.text(max_size=800), max_size=80),
    details=st.dictionaries(st.text(max_size=20), st.text(max_size=5000), max_size=8),
)
def test_any_item_fits_its_budget(
    transcript: list[tuple[str, str]], log: list[str], details: dict[str, Any]
) -> None:
    item = Item(
        test_id="t",
        test_name="n",
        assistant="a",
        status=ItemStatus.ERROR,
        transcript=[TranscriptEntry(role=r, content=c) for r, c in transcript],
        assertions=[Check(type="x", passed=False, details=details)],
        error="e" * 10_000,
    )
    item.artifacts.log.extend(log)
    fitted, size = fit_item(escape_keys(CONVERTER.unstructure(item)), max_bytes=ITEM_MAX_BYTES)
    assert size <= ITEM_MAX_BYTES
    assert CONVERTER.structure(unescape_keys(fitted), Item).test_id == "t"  # still a valid item


def test_1000_engine_sized_items_make_a_document_well_under_16_mib() -> None:
    """By construction: every stored item is at most ITEM_MAX_BYTES, so 1,000 of the largest
    items the engine produces (8 turns, 4,000 characters per entry) come to about 10 MiB."""
    run_doc = CONVERTER.unstructure(Run(org_id="o", suite_id="s", request={"x": "y" * 2000}))
    run_doc["_id"] = ObjectId()
    items = [
        fit_item(CONVERTER.unstructure(_long_item(n)), max_bytes=ITEM_MAX_BYTES)[0]
        for n in range(1000)
    ]
    size = len(bson.encode({**run_doc, "items": items}))
    assert size < 11 * 1024 * 1024, size
    assert size > 5 * 1024 * 1024  # the items are not trimmed to nothing either


@pytest.mark.mongo
async def test_stored_items_respect_the_budget_and_are_accounted(mongo_url: str) -> None:
    """(A FerretDB $push rewrites the whole document, so 1,000 such items take minutes there;
    60 show the same per-item bound. bench/store_mongo.py persists the full 1,000.)"""
    store, _ = await open_store({"MONGO_URL": mongo_url})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        run = await store.create_run(Run(org_id="o"))
        assert run.id is not None
        for n in range(60):
            await store.append_item(run.id, _long_item(n))
        raw = await client.get_default_database().testruns.find_one({"_id": ObjectId(run.id)})
        assert raw is not None
        sizes = [len(bson.encode(item)) for item in raw["items"]]
        assert max(sizes) <= ITEM_MAX_BYTES
        assert raw["itemsBytes"] == sum(sizes)
        stored = await store.get_run(run.id)
        assert stored is not None
        assert [i.test_id for i in stored.items] == [f"t{n}" for n in range(60)]
        assert stored.items[0].started_at == T0
    finally:
        await client.aclose()
        await store.aclose()


@pytest.mark.mongo
async def test_items_past_the_soft_limit_are_compacted_and_past_the_hard_limit_refused(
    mongo_url: str,
) -> None:
    opened, _ = await open_store({"MONGO_URL": mongo_url})
    store = MongoRunStore(
        opened.database,
        document_locks=True,
        item_max_bytes=8192,
        run_soft_bytes=20_000,
        run_hard_bytes=24_000,
    )
    try:
        run = await store.create_run(Run(org_id="o"))
        assert run.id is not None
        appended = 0
        refused: MongoStoreError | None = None
        for n in range(100):
            try:
                await store.append_item(run.id, _long_item(n))
            except MongoStoreError as exc:
                refused = exc
                break
            appended += 1
        assert refused is not None
        assert "limited to 16 MiB" in str(refused)
        stored = await store.get_run(run.id)
        assert stored is not None
        assert len(stored.items) == appended  # every reported item is there
        assert stored.items[0].transcript  # the first ones in full (trimmed) form
        assert not stored.items[-1].transcript  # the last ones compact
        assert stored.items[-1].status is ItemStatus.FAILED
    finally:
        await opened.aclose()
