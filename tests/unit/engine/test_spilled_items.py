"""Finished items spilled to disk (what ``lamdis run`` does): the run, its figures and its
reports are those of the same run kept in memory, whatever order the items finish in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lamdis_core.domain.results import Item, ItemStatus
from lamdis_core.engine.finished import InPlanOrder, SpilledItems
from lamdis_core.ports.target import TurnReply, TurnRequest
from lamdis_core.reports import ReportFacts, render_json, render_junit, render_markdown

from tests.unit.engine.test_engine import engine_with, make_test, plan_of


def _flaky(turn: TurnRequest) -> TurnReply:
    # What the test drew for this repeat (seeded): the same in both runs, whatever the order;
    # a fixed latency, so the two runs' timings match too.
    text = "Investing involves risk." if "heads" in turn.message else "No idea."
    return TurnReply(text=text, latency_ms=5.0)


async def _run(finished: SpilledItems | None, concurrency: int) -> object:
    engine, _, _ = engine_with(_flaky)
    tests = [
        make_test(
            id=f"t{n}",
            variables=[{"key": "coin", "value": "${randFrom(heads,tails)}"}],
            steps=[
                {"type": "message", "content": f"question {n}: ${{var.coin}}"},
                {"type": "includes", "includes": ["risk"]},
            ],
        )
        for n in range(6)
    ]
    return await engine.run(
        plan_of(*tests), concurrency=concurrency, repeat=5, seed=11, finished=finished
    )


async def test_a_spilled_run_has_the_items_figures_and_reports_of_one_in_memory(
    tmp_path: Path,
) -> None:
    in_memory = await _run(None, concurrency=1)
    with SpilledItems(keep=3, directory=str(tmp_path)) as spilled:
        on_disk = await _run(spilled, concurrency=4)  # finishing out of plan order
        assert spilled.spilled == 30 - 3
        assert list(on_disk.items) == list(in_memory.items)  # type: ignore[attr-defined]
        statuses = {i.status for i in on_disk.items}  # type: ignore[attr-defined]
        assert statuses == {ItemStatus.PASSED, ItemStatus.FAILED}
        for name in ("totals", "status", "judge", "usage", "gate", "seed"):
            assert getattr(on_disk, name) == getattr(in_memory, name), name
        for result in (in_memory, on_disk):
            # The engine's facts are those a report gathers for itself.
            facts = result.facts  # type: ignore[attr-defined]
            assert isinstance(facts, ReportFacts)
            for render in (render_json, render_junit, render_markdown):
                assert render(result, facts=facts) == render(result)  # type: ignore[operator]
        assert render_junit(on_disk) == render_junit(in_memory)  # type: ignore[arg-type]
        assert render_markdown(on_disk) == render_markdown(in_memory)  # type: ignore[arg-type]


def _items(count: int) -> list[Item]:
    return [
        Item(test_id=f"t{n}", test_name=f"T {n}", assistant="bot", status=ItemStatus.PASSED)
        for n in range(count)
    ]


def test_items_come_back_in_plan_order_by_index_slice_and_iteration(tmp_path: Path) -> None:
    items = _items(12)
    with SpilledItems(keep=4, directory=str(tmp_path)) as spilled:
        for index in [5, 0, 11, 3, 7, 1, 10, 2, 9, 4, 8, 6]:
            spilled.put(index, items[index])
        assert len(spilled) == 12 and spilled.spilled == 8
        assert list(spilled) == items
        assert spilled[0] == items[0] and spilled[-1] == items[-1] and spilled[5] == items[5]
        assert spilled[3:6] == items[3:6]
        assert spilled.in_order() is spilled
    with pytest.raises(ValueError, match="closed"):
        spilled[7]  # spilled (the first four to arrive stay in memory)


def test_a_folder_that_cannot_hold_the_file_falls_back_to_the_system_temp(
    tmp_path: Path,
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    items = _items(5)
    with SpilledItems(keep=1, directory=str(not_a_folder)) as spilled:
        for index, item in enumerate(items):
            spilled.put(index, item)
        assert spilled.spilled == 4
        assert list(spilled) == items


@pytest.mark.parametrize("hold", [0, 2, 100])
def test_items_are_taken_in_plan_order_as_soon_as_every_earlier_one_finished(
    hold: int, tmp_path: Path
) -> None:
    items = _items(12)
    taken: list[Item] = []
    with SpilledItems(keep=3, directory=str(tmp_path)) as spilled:
        in_order = InPlanOrder(spilled, taken.append, hold=hold)
        arrivals = [5, 0, 11, 3, 7, 1, 10, 2, 9, 4, 8, 6]
        for n, index in enumerate(arrivals):
            in_order.put(index, items[index])
            # Taken: the longest run of plan positions from 0 that have all finished.
            done = set(arrivals[: n + 1])
            expected = next(k for k in range(13) if k not in done)
            assert in_order.taken == expected == len(taken)
        assert taken == items and list(spilled) == items


def test_the_folder_is_made_when_missing(tmp_path: Path) -> None:
    folder = tmp_path / "lamdis-results" / "nested"
    with SpilledItems(keep=0, directory=str(folder)) as spilled:
        spilled.put(0, _items(1)[0])
        assert spilled.spilled == 1
        assert folder.is_dir() and not list(folder.iterdir())  # the file has no name


async def test_items_finished_before_a_cancel_are_in_the_spill(tmp_path: Path) -> None:
    """What an interrupted ``lamdis run`` reports from: every item that finished."""
    never = asyncio.Event()

    async def answer(turn: TurnRequest) -> str:
        if turn.message == "hang":
            await never.wait()
        return "ok"

    engine, _, _ = engine_with(answer)
    tests = [
        make_test(id=f"t{n}", steps=[{"type": "message", "content": "hang" if n % 2 else "hi"}])
        for n in range(6)
    ]
    with SpilledItems(keep=1, directory=str(tmp_path)) as spilled:
        task = asyncio.ensure_future(engine.run(plan_of(*tests), concurrency=6, finished=spilled))
        for _ in range(1000):
            if len(spilled) == 3:
                break
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [i.test_id for i in spilled] == ["t0", "t2", "t4"]
        assert {i.status for i in spilled} == {ItemStatus.PASSED}
