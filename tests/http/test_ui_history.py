"""The suite page (trends, flaky and slowest tests) and the compare page of the hosted UI:
their content, links from the run page and runs list, 404 pages for unknown ids, hostile
strings shown as text, and damaged stored runs on real PostgreSQL shown with an error."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import asyncpg  # type: ignore[import-untyped]
import pytest
from lamdis_core.domain.results import (
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    Run,
    RunStatus,
    Timings,
    Totals,
    TranscriptEntry,
    Usage,
)
from lamdis_core.testing.memory import InMemoryRunStore
from lamdis_store_postgres import PostgresRunStore

from tests.http._html import Element, parse
from tests.http.conftest import MakeService
from tests.http.test_ui import T0, XSS


def _secured(headers: Mapping[str, str]) -> bool:
    return (
        headers["Content-Security-Policy"].startswith("default-src 'self'")
        and headers["X-Frame-Options"] == "DENY"
    )


def _item(
    test_id: str,
    status: ItemStatus,
    *,
    turns: list[float] | None = None,
    score: float | None = None,
    reply: str = "fine",
    name: str | None = None,
) -> Item:
    return Item(
        test_id=test_id,
        test_name=name or f"Test {test_id}",
        assistant="bot",
        status=status,
        transcript=[
            TranscriptEntry(role="user", content="hello"),
            TranscriptEntry(role="assistant", content=reply, latency_ms=(turns or [None])[0]),
        ],
        assertions=[Check(type="includes", passed=status is ItemStatus.PASSED)],
        timings=Timings.from_turns(turns or []),
        judge_score=score,
    )


async def _finished_run(
    store: InMemoryRunStore,
    items: list[Item],
    *,
    minute: int,
    suite: str = "checkout",
    judge: float | None = None,
    status: RunStatus | None = None,
) -> str:
    run = await store.create_run(
        Run(suite_id=suite, env_id="staging", created_at=T0 + timedelta(minutes=minute))
    )
    assert run.id is not None
    for item in items:
        await store.append_item(run.id, item)
    passed = sum(1 for i in items if i.status is ItemStatus.PASSED)
    await store.finish_run(
        run.id,
        status=status or (RunStatus.PASSED if passed == len(items) else RunStatus.FAILED),
        totals=Totals(passed=passed, failed=len(items) - passed),
        judge=JudgeSummary(avg_score=judge),
        usage=Usage(),
        finished_at=T0 + timedelta(minutes=minute, seconds=30),
    )
    return run.id


async def _suite_history(store: InMemoryRunStore, runs: int) -> list[str]:
    """``runs`` runs of "checkout", oldest first: "flip" alternates passed/failed from run 40
    on, "steady" always passes, "slow" answers in 900-1000 ms, "xss" has a hostile name."""
    ids = []
    for n in range(runs):
        flip = ItemStatus.FAILED if n >= 40 and n % 2 else ItemStatus.PASSED
        ids.append(
            await _finished_run(
                store,
                [
                    _item("flip", flip, turns=[100.0 + n], score=0.9),
                    _item("steady", ItemStatus.PASSED, turns=[50.0], score=0.8),
                    _item("slow", ItemStatus.PASSED, turns=[900.0 + n, 1000.0], score=0.7),
                    _item("xss", ItemStatus.SKIPPED, name=XSS),
                ],
                minute=n,
                judge=0.5 + n / 200,
            )
        )
    return ids


def _rows(table: Element) -> list[list[str]]:
    return [[td.text().strip() for td in tr.iter("td")] for tr in table.iter("tr")][1:]


async def test_suite_page_charts_the_last_50_finished_runs_with_flaky_and_slowest_tests(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    ids = await _suite_history(store, 55)
    await _finished_run(store, [_item("other", ItemStatus.PASSED)], minute=70, suite="billing")
    running = await store.create_run(Run(suite_id="checkout", created_at=T0 + timedelta(hours=2)))

    page = await service.client.get("/ui/suites/checkout")
    assert page.status == 200
    assert _secured(page.headers)
    html = await page.text()
    assert "<img" not in html and "<script" not in html
    tree = parse(html)

    # One dot per finished run, newest 50, oldest on the left; each links to its run.
    for chart in ("pass-rate", "judge-average", "p95-latency"):
        dots = [a.attrs["href"] for a in tree.by_id(f"chart-{chart}").iter("a")]
        assert dots == [f"/ui/runs/{i}" for i in ids[5:]], chart
    titles = [t.text() for t in tree.by_id("chart-p95-latency").iter("title")]
    assert titles[0].startswith("2026-01-01T00:05:00+00:00: 1000 ms")
    judge_titles = [t.text() for t in tree.by_id("chart-judge-average").iter("title")]
    assert judge_titles[-1].startswith("2026-01-01T00:54:00+00:00: 0.77")
    assert "1 queued or running not counted" in tree.text()
    assert running.id not in html

    flaky = _rows(tree.by_id("flaky"))
    assert [row[:3] for row in flaky] == [["Test flip flip", "bot", "14"]]
    assert len(list(tree.by_id("flaky").iter("a"))) == 20  # a status per run of the last 20

    slowest = _rows(tree.by_id("slowest"))
    assert slowest[0][:3] == ["Test slow slow", "bot", "1000 ms"]
    assert [row[0] for row in slowest] == ["Test slow slow", "Test flip flip", "Test steady steady"]

    runs = _rows(tree.by_id("suite-runs"))
    assert len(runs) == 50 and runs[0][1:4] == ["failed", "4", "75%"]

    unknown = await service.client.get("/ui/suites/no-such-suite")
    assert unknown.status == 404 and _secured(unknown.headers)
    assert "There is no suite no-such-suite here" in parse(await unknown.text()).text()


async def test_suite_page_shows_hostile_test_names_as_text_and_a_suite_without_runs(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False)
    for n in range(3):
        status = ItemStatus.FAILED if n == 1 else ItemStatus.PASSED
        await _finished_run(store, [_item("t", status, turns=[5.0], name=XSS)], minute=n)
    html = await (await service.client.get("/ui/suites/checkout")).text()
    assert "<img" not in html and "<script" not in html
    assert _rows(parse(html).by_id("flaky"))[0][0] == f"{XSS} t"
    assert _rows(parse(html).by_id("slowest"))[0][0] == f"{XSS} t"

    # "smoke" is in the imported catalog but has no runs: a page that says so, not a 404.
    empty = await service.client.get("/ui/suites/smoke")
    assert empty.status == 200
    assert "No finished runs of this suite yet." in parse(await empty.text()).text()


async def _two_runs(store: InMemoryRunStore) -> tuple[str, str, str]:
    first = await _finished_run(
        store, [_item("a", ItemStatus.PASSED, turns=[10.0], score=0.9)], minute=0
    )
    before = await _finished_run(
        store,
        [
            _item("a", ItemStatus.PASSED, turns=[100.0], score=0.9),
            _item("b", ItemStatus.PASSED, turns=[100.0], score=0.9),
            _item("c", ItemStatus.FAILED, turns=[100.0], score=0.5),
            _item("gone", ItemStatus.PASSED),
        ],
        minute=1,
    )
    after = await _finished_run(
        store,
        [
            _item("a", ItemStatus.FAILED, turns=[100.0], score=0.9, reply=XSS),
            _item("b", ItemStatus.PASSED, turns=[300.0], score=0.6),
            _item("c", ItemStatus.PASSED, turns=[90.0], score=0.8),
            _item("new", ItemStatus.PASSED),
        ],
        minute=2,
    )
    return first, before, after


async def test_compare_page_shows_status_changes_and_score_and_latency_deltas(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    first, before, after = await _two_runs(store)

    # The run page links to the suite's trends and to the comparison with the previous run.
    run_page = parse(await (await service.client.get(f"/ui/runs/{after}")).text())
    assert run_page.by_id("compare-link").attrs["href"] == f"/ui/runs/{after}/compare"
    assert run_page.by_id("suite-link").attrs["href"] == "/ui/suites/checkout"

    page = await service.client.get(f"/ui/runs/{after}/compare")
    assert page.status == 200 and _secured(page.headers)
    html = await page.text()
    assert "<img" not in html and "<script" not in html
    tree = parse(html)
    sides = tree.by_class("side")
    assert before in sides[0].text() and after in sides[1].text()
    assert "1 newly failing, 1 newly passing, 1 judge score drops" in tree.by_id(
        "compare-counts"
    ).text().replace("  ", " ")

    changed = _rows(tree.by_id("changed"))
    assert [row[:4] for row in changed] == [
        ["Test a a newly failing", "bot", "passed", "failed"],
        ["Test c c newly passing", "bot", "failed", "passed"],
    ]
    assert changed[0][4] == f"turn 1: assistant: {XSS}"  # the hostile reply, as text

    deltas = {row[0]: row for row in _rows(tree.by_id("deltas"))}
    assert deltas["Test b b"][3:] == ["0.90 → 0.60", "-0.30", "100 ms → 300 ms", "+200 ms (+200%)"]
    assert deltas["Test c c"][4] == "+0.30" and deltas["Test c c"][6] == "-10 ms"
    b_row = next(tr for tr in tree.by_id("deltas").iter("tr") if "Test b" in tr.text())
    assert b_row.attrs["class"] == "regression"
    assert "new@bot" in tree.by_id("added").text()
    assert "gone@bot" in tree.by_id("removed").text()

    # Another base from the picker; the first run has no previous one; unknown ids are 404s.
    chosen = parse(
        await (await service.client.get(f"/ui/runs/{after}/compare?base={first}")).text()
    )
    assert first in chosen.by_class("side")[0].text()
    options = [o.attrs["value"] for o in chosen.iter("option")]
    assert options == [before, first]
    alone = parse(await (await service.client.get(f"/ui/runs/{first}/compare")).text())
    assert "No earlier run of this suite" in alone.by_id("no-base").text()
    for path in ("/ui/runs/nope/compare", f"/ui/runs/{after}/compare?base=nope"):
        missing = await service.client.get(path)
        assert missing.status == 404 and _secured(missing.headers)
        assert "There is no run nope" in parse(await missing.text()).text()


@pytest.mark.postgres
async def test_damaged_stored_runs_show_what_could_be_read_and_the_error(
    pg_store: PostgresRunStore, postgres_dsn: str, make_service: MakeService
) -> None:
    service = await make_service(store=pg_store, start_worker=False, import_tree=False)  # type: ignore[arg-type]
    ids = []
    for n, status in enumerate((ItemStatus.PASSED, ItemStatus.FAILED)):
        run = await pg_store.create_run(
            Run(suite_id="checkout", env_id="staging", created_at=T0 + timedelta(minutes=n))
        )
        assert run.id is not None
        ids.append(run.id)
        await pg_store.append_item(run.id, _item("a", status, turns=[10.0], score=0.9))
        await pg_store.append_item(run.id, _item("b", ItemStatus.PASSED, turns=[20.0]))
        await pg_store.finish_run(
            run.id, status=RunStatus.FAILED, totals=Totals(passed=1, failed=1),
            judge=JudgeSummary(), usage=Usage(), finished_at=T0 + timedelta(minutes=n, seconds=1),
        )  # fmt: skip
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(
            """UPDATE test_run_items SET item = jsonb_set(item, '{transcript}', '"torn"')
               WHERE "runId" = $1 AND "testId" = 'b'""",
            ids[1],
        )
        await conn.execute("""UPDATE test_runs SET judge = '[1]'::jsonb WHERE id = $1""", ids[1])
    finally:
        await conn.close()

    page = await service.client.get(f"/ui/runs/{ids[1]}/compare")
    assert page.status == 200
    tree = parse(await page.text())
    problems = tree.by_id("compare-problems").text()
    assert "this stored run is damaged" in problems and "item 1 (" in problems
    assert _rows(tree.by_id("changed"))[0][:4] == [
        "Test a a newly failing",
        "bot",
        "passed",
        "failed",
    ]
    assert "b@bot" in tree.by_id("removed").text()

    suite = await service.client.get("/ui/suites/checkout")
    assert suite.status == 200
    suite_tree = parse(await suite.text())
    assert "judge (" in suite_tree.by_id("suite-errors").text()
    assert len(_rows(suite_tree.by_id("suite-runs"))) == 2


async def test_compare_page_lists_the_100_largest_changes_regressions_first(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)

    def items(later: bool) -> list[Item]:
        made = []
        for n in range(120):
            slow = later and n in (7, 77)  # the two regressions: p95 three times the base
            latency = 300.0 if slow else 100.0 + (n if later else 0)
            made.append(_item(f"t{n:03d}", ItemStatus.PASSED, turns=[latency], score=0.5))
        return made

    await _finished_run(store, items(False), minute=0)
    after = await _finished_run(store, items(True), minute=1)
    tree = parse(await (await service.client.get(f"/ui/runs/{after}/compare")).text())
    rows = _rows(tree.by_id("deltas"))
    assert len(rows) == 100
    assert [row[0] for row in rows[:4]] == [
        "Test t007 t007",
        "Test t077 t077",
        "Test t119 t119",
        "Test t118 t118",
    ]
    assert "20 tests with smaller changes not shown" in tree.text()
