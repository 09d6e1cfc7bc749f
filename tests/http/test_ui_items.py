"""The hosted run page shows a large finished run's items 100 at a time, with the transcripts
of the failing ones inline and every other item on its own page; a small run, and a running
one (its page is updated live), show everything. A finished run's page reads only the items
it shows: on real PostgreSQL, a damaged item is named on its own page and nowhere else."""

from __future__ import annotations

import pytest
from lamdis_core.domain.results import ItemStatus, JudgeSummary, Run, RunStatus, Totals, Usage
from lamdis_core.ports.store import RunStore
from lamdis_core.testing.memory import InMemoryRunStore
from lamdis_store_postgres import PostgresRunStore

from tests.http._html import Element, parse
from tests.http.conftest import MakeService
from tests.http.test_ui import T0, XSS
from tests.http.test_ui_history import _item


def _test_of(row: Element) -> str:
    return next(row.iter("td")).text().split()[1]


async def _run_of(store: RunStore, count: int, failing: set[int]) -> str:
    run = await store.create_run(Run(suite_id="big", created_at=T0))
    assert run.id is not None
    for n in range(1, count + 1):
        status = ItemStatus.FAILED if n in failing else ItemStatus.PASSED
        await store.append_item(run.id, _item(f"t{n}", status, turns=[10.0], reply=f"reply {n}"))
    await store.finish_run(
        run.id, status=RunStatus.FAILED, totals=Totals(passed=count - len(failing),
        failed=len(failing)), judge=JudgeSummary(), usage=Usage(), finished_at=T0,
    )  # fmt: skip
    return run.id


async def test_a_large_run_is_paged_with_failing_transcripts_inline(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    failing = {5, 150, *range(160, 175)}
    run_id = await _run_of(store, 230, failing)

    first = parse(await (await service.client.get(f"/ui/runs/{run_id}")).text())
    rows = list(first.by_id("items").iter("tr"))[1:]
    assert len(rows) == 100
    links = {_test_of(tr): next(tr.iter("a")).attrs["href"] for tr in rows}
    assert links["t5"] == "#item-5"
    assert links["t1"] == f"/ui/runs/{run_id}/items/1"
    assert [d.attrs["id"] for d in first.iter("details")] == ["item-5"]
    pager = first.by_id("items-pager")
    assert "Items 1\u2013100 of 230; 99 transcripts on their own pages" in pager.text()
    assert [a.attrs["href"] for a in pager.iter("a")] == [f"/ui/runs/{run_id}?page=2"]

    # At most 10 failing transcripts inline on a page; the rest link to their pages.
    second = parse(await (await service.client.get(f"/ui/runs/{run_id}?page=2")).text())
    inline = [d.attrs["id"] for d in second.iter("details")]
    assert inline == ["item-150", *(f"item-{n}" for n in range(160, 169))]
    assert "Items 101\u2013200 of 230" in second.by_id("items-pager").text()

    for query, first_row in (("?page=3", "t201"), ("?page=99", "t201"), ("?page=x", "t1")):
        page = parse(await (await service.client.get(f"/ui/runs/{run_id}{query}")).text())
        assert _test_of(list(page.by_id("items").iter("tr"))[1]) == first_row

    item = await service.client.get(f"/ui/runs/{run_id}/items/150")
    assert item.status == 200
    tree = parse(await item.text())
    assert tree.by_id("run-link").attrs["href"] == f"/ui/runs/{run_id}?page=2"
    details = tree.by_id("item-150")
    assert "open" in details.attrs
    assert "reply 150" in details.text()
    for bad in ("0", "231", "x", "99999999999"):
        missing = await service.client.get(f"/ui/runs/{run_id}/items/{bad}")
        assert missing.status == 404
    assert (await service.client.get("/ui/runs/nope/items/1")).status == 404


async def test_a_running_run_shows_every_item_for_its_live_updates(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    run = await store.create_run(Run(suite_id="big", created_at=T0))
    assert run.id is not None
    for n in range(1, 131):
        await store.append_item(run.id, _item(f"t{n}", ItemStatus.PASSED, turns=[1.0]))
    tree = parse(await (await service.client.get(f"/ui/runs/{run.id}")).text())
    assert len(list(tree.iter("details"))) == 130
    assert tree.by_id("live").attrs["data-items"] == "130"


async def test_a_small_run_shows_every_transcript_and_no_pager(make_service: MakeService) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    run_id = await _run_of(store, 20, {3})
    tree = parse(await (await service.client.get(f"/ui/runs/{run_id}")).text())
    assert len(list(tree.iter("details"))) == 20
    assert not [e for e in tree.iter() if e.attrs.get("id") == "items-pager"]


async def test_an_item_page_shows_hostile_text_as_text(make_service: MakeService) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    run = await store.create_run(Run(suite_id="s", created_at=T0))
    assert run.id is not None
    await store.append_item(run.id, _item("t", ItemStatus.FAILED, reply=XSS, name=XSS))
    html = await (await service.client.get(f"/ui/runs/{run.id}/items/1")).text()
    assert "<img" not in html and "<script" not in html
    tree = parse(html)
    assert tree.by_class("content")[1].text() == XSS
    assert next(tree.iter("h1")).text() == XSS


@pytest.mark.postgres
async def test_a_finished_runs_page_reads_only_its_items_and_its_header_from_the_run(
    pg_store: PostgresRunStore, make_service: MakeService
) -> None:
    service = await make_service(store=pg_store, start_worker=False, import_tree=False)  # type: ignore[arg-type]
    run_id = await _run_of(pg_store, 150, {3, 120})
    await pg_store.pool.execute(
        """UPDATE test_run_items SET item = jsonb_set(item, '{transcript}', '"torn"')
        WHERE "runId" = $1 AND "testId" IN ('t7', 't130')""",
        run_id,
    )
    await pg_store.pool.execute(
        """UPDATE test_runs SET usage = '{"tokens": 4321, "calls": 9, "costUsd": 0.5}'
        WHERE id = $1""",
        run_id,
    )

    first = parse(await (await service.client.get(f"/ui/runs/{run_id}")).text())
    assert first.by_id("run-totals").text() == "148 passed, 2 failed, 0 errors, 0 skipped of 150"
    assert first.by_id("run-usage").text() == "4321 tokens, 9 calls, $0.5000"
    assert first.by_class("warnings")[0].text().strip() == (
        "stored item 7 of this run cannot be read (left out)"
    )
    rows = [_test_of(tr) for tr in list(first.by_id("items").iter("tr"))[1:]]
    assert rows == [f"t{n}" for n in range(1, 101) if n != 7]
    assert "Items 1\u2013100 of 150" in first.by_id("items-pager").text()

    second = parse(await (await service.client.get(f"/ui/runs/{run_id}?page=2")).text())
    assert "stored item 130 of this run" in second.by_class("warnings")[0].text()
    assert "item 7 " not in second.by_class("warnings")[0].text()
    assert [d.attrs["id"] for d in second.iter("details")] == ["item-120"]
    assert "Items 101\u2013150 of 150" in second.by_id("items-pager").text()

    damaged = await service.client.get(f"/ui/runs/{run_id}/items/130")
    assert damaged.status == 200
    assert "this stored item cannot be shown" in await damaged.text()
    beside = parse(await (await service.client.get(f"/ui/runs/{run_id}/items/131")).text())
    assert "reply 131" in beside.by_id("item-131").text()
    assert (await service.client.get(f"/ui/runs/{run_id}/items/151")).status == 404
