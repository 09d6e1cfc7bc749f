"""The hosted run page shows a large finished run's items 100 at a time, with the transcripts
of the failing ones inline and every other item on its own page; a small run, and a running
one (its page is updated live), show everything."""

from __future__ import annotations

from lamdis_core.domain.results import ItemStatus, JudgeSummary, Run, RunStatus, Totals, Usage
from lamdis_core.testing.memory import InMemoryRunStore

from tests.http._html import Element, parse
from tests.http.conftest import MakeService
from tests.http.test_ui import T0, XSS
from tests.http.test_ui_history import _item


def _test_of(row: Element) -> str:
    return next(row.iter("td")).text().split()[1]


async def _run_of(store: InMemoryRunStore, count: int, failing: set[int]) -> str:
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
