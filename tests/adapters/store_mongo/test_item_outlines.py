"""Item outlines and item windows on the Mongo store: an item whose stored fields cannot be
read is left out of the outlines (``None`` at its place in a window) and the others of the run
are read; the run figures finish_run keeps."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from lamdis_core.domain.results import RunStatus, Timings
from lamdis_core.ports.store import Trends
from lamdis_store_mongo import open_store

from tests.contracts.store import finish, make_item, make_run


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


async def test_finish_keeps_the_run_figures_and_an_item_after_it_unsets_them(
    mongo_url: str,
) -> None:
    """finish_run keeps the run's figures on its document; one finished before they were
    kept (no fields) reads the same figures, computed from its items, and an item appended
    after the finish unsets them."""
    store, _ = await open_store({"MONGO_URL": mongo_url})
    runs = store.database["testruns"]

    async def figures(run_id: str) -> tuple[Any, ...]:
        doc = await runs.find_one({"_id": ObjectId(run_id)})
        assert doc is not None
        return tuple(doc.get(name) for name in ("itemCount", "turnCount", "p95TurnMs"))

    try:
        run = await store.create_run(make_run())
        assert run.id is not None
        for n, turns in enumerate(([120.0, 99.5], [], [3000.5])):
            await store.append_item(run.id, make_item(n, timings=Timings.from_turns(turns)))
        await finish(store, run.id, RunStatus.STOPPED)
        assert await figures(run.id) == (3, 3, 3000.5)
        kept = await store.trends([run.id])
        assert kept == Trends.of([run.id], await store.item_outlines([run.id]))
        await runs.update_one(
            {"_id": ObjectId(run.id)},
            {"$unset": {"itemCount": "", "turnCount": "", "p95TurnMs": ""}},
        )
        assert await store.trends([run.id]) == kept  # finished before the figures were kept
        await store.append_item(run.id, make_item(5, timings=Timings.from_turns([5000.0])))
        assert await figures(run.id) == (None, None, None)
        (trend,) = (await store.trends([run.id])).runs
        assert (trend.items, trend.turns, trend.p95_ms) == (4, 4, 5000.0)
        assert (await store.get_run(run.id)) is not None  # the fields never reach a Run
    finally:
        await store.aclose()
