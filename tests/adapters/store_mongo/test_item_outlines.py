"""Item outlines on the Mongo store: an item whose stored fields cannot be read is left out
and the others of the run are read."""

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
