"""The diff's first divergent turn is taken between each test's first repeats, whatever order
the items were stored in (workers store them as they finish)."""

from __future__ import annotations

from lamdis_core.diff import RunSide, diff_runs
from lamdis_core.domain.results import Item, ItemStatus, TranscriptEntry


def _item(test: str, repeat: int, reply: str, status: ItemStatus) -> Item:
    return Item(
        test_id=test,
        test_name=test,
        assistant="bot",
        status=status,
        repeat=repeat,
        transcript=[
            TranscriptEntry(role="user", content="hello"),
            TranscriptEntry(role="assistant", content=reply),
        ],
    )


def test_the_divergence_is_between_the_first_repeats_in_any_order() -> None:
    base = [
        _item("a", 1, "later base", ItemStatus.PASSED),
        _item("b", 0, "same", ItemStatus.PASSED),
        _item("a", 0, "first base", ItemStatus.PASSED),
    ]
    new = [
        _item("a", 0, "first new", ItemStatus.FAILED),
        _item("b", 0, "same", ItemStatus.PASSED),
        _item("a", 1, "later new", ItemStatus.FAILED),
    ]
    diff = diff_runs(RunSide(label="base", items=base), RunSide(label="new", items=new))
    changes = {change.test_id: change for change in diff.changes}
    assert changes["a"].newly_failing
    divergence = changes["a"].divergence
    assert divergence is not None and divergence.index == 1 and divergence.turn == 1
    assert divergence.base is not None and divergence.base.content == "first base"
    assert divergence.new is not None and divergence.new.content == "first new"
    # unchanged: no divergence looked for
    assert changes["b"].divergence is None and not changes["b"].regression
