"""Item outlines and item windows on the Mongo store: an item whose stored fields cannot be
read is left out of the outlines (``None`` at its place in a window) and the others of the run
are read."""

from __future__ import annotations

from bson import ObjectId
from lamdis_store_mongo import open_store

from tests.contracts.store import make_item, make_run


async def test_a_damaged_item_is_left_out_and_the_rest_read(mongo_url: str) -> None:
    store, _ = await open_store({"MONGO_URL": mongo_url})
    try:
        run = await store.create_run(make_run())
        assert run.id is not None
        for n in range(3):
            await store.append_item(run.id, make_item(n))
        await store.database["testruns"].update_one(
            {"_id": ObjectId(run.id)},
            {"$set": {"items.1.status": "exploded", "items.2.timings.perTurnMs": "slow"}},
        )
        outlines = await store.item_outlines([run.id])
        assert [o.test_id for o in outlines[run.id]] == ["test-0"]
    finally:
        await store.aclose()


async def test_a_damaged_item_is_none_at_its_place_and_the_rest_read(mongo_url: str) -> None:
    store, _ = await open_store({"MONGO_URL": mongo_url})
    try:
        run = await store.create_run(make_run())
        assert run.id is not None
        items = [make_item(n) for n in range(4)]
        for item in items:
            await store.append_item(run.id, item)
        await store.database["testruns"].update_one(
            {"_id": ObjectId(run.id)},
            {"$set": {"items.1.status": "exploded", "items.2.transcript": "torn"}},
        )
        page = await store.get_items(run.id, offset=0, limit=10)
        assert page is not None
        assert page.items == (items[0], None, None, items[3])
        assert (page.total, page.unreadable) == (4, (1, 2))
        window = await store.get_items(run.id, offset=3, limit=5)
        assert window is not None
        assert window.items == (items[3],)
    finally:
        await store.aclose()
