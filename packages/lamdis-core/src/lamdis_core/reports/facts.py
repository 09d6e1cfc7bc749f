"""What the reports say about a run as a whole, gathered in one pass over its items.

Every report needs the same figures (the rows per test x assistant, throttling, whether an
offline judge scored anything, JUnit's counts per suite). Gathered once, they let the CLI
write every report with one more read of each item, which matters when the items of a
``--repeat`` run are read back from disk (:class:`~lamdis_core.engine.finished.SpilledItems`).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Literal

from lamdis_core.domain.results import Item, ItemStatus, Throttling
from lamdis_core.reports.stats import PassRateGate
from lamdis_core.reports.summary import (
    OFFLINE_JUDGE_WARNING,
    RowBuilders,
    SummaryRow,
    semantic_checks_ran,
)

GroupBy = Literal["assistant", "file"]


def item_seconds(item: Item) -> float:
    """How long a test took: start to finish, else the sum of its turns."""
    if item.started_at and item.finished_at:
        return max(0.0, (item.finished_at - item.started_at).total_seconds())
    return sum(item.timings.per_turn_ms) / 1000


class SuiteCounts:
    """A JUnit ``<testsuite>``: where its items are in the run, and their counts."""

    def __init__(self) -> None:
        self.positions = array("q")
        self.failures = 0
        self.errors = 0
        self.skipped = 0
        self.seconds: list[float] = []  # summed at the end, as sum() over the items was
        self.tests: set[tuple[str, str]] = set()
        self.unassessed = 0

    def add(self, position: int, item: Item) -> None:
        self.positions.append(position)
        if item.status is ItemStatus.FAILED:
            self.failures += 1
        elif item.status is ItemStatus.ERROR:
            self.errors += 1
        elif item.status is ItemStatus.SKIPPED:
            self.skipped += 1
        self.seconds.append(item_seconds(item))
        self.tests.add((item.test_id, item.assistant))
        self.unassessed += sum(1 for check in item.assertions if check.skipped)


class ReportFacts:
    """The figures every report shares, for items in plan order under ``gate``."""

    def __init__(
        self,
        *,
        rows: list[SummaryRow],
        throttling: Throttling,
        semantic: bool,
        repeated: bool,
        group_by: GroupBy,
        suites: dict[str, SuiteCounts],
    ) -> None:
        self.rows = rows
        self.throttling = throttling
        self.semantic = semantic
        """Whether any verdict came from the judge (see ``semantic_checks_ran``)."""
        self.repeated = repeated
        """Whether any item is a repeat (``repeat > 0``)."""
        self.group_by = group_by
        self.suites = suites
        """JUnit's suites (by assistant or by file) in the order they first appear."""

    @classmethod
    def of(
        cls,
        items: Iterable[Item],
        gate: PassRateGate | None = None,
        *,
        group_by: GroupBy = "assistant",
    ) -> ReportFacts:
        rows = RowBuilders()
        throttling = Throttling()
        semantic = repeated = False
        suites: dict[str, SuiteCounts] = {}
        for position, item in enumerate(items):
            rows.add(item)
            if item.throttling is not None:
                throttling.add(item.throttling)
            semantic = semantic or semantic_checks_ran((item,))
            repeated = repeated or item.repeat > 0
            key = item.assistant if group_by == "assistant" else (item.file or "(no file)")
            suite = suites.get(key)
            if suite is None:
                suite = suites[key] = SuiteCounts()
            suite.add(position, item)
        return cls(
            rows=rows.rows(gate or PassRateGate()),
            throttling=throttling,
            semantic=semantic,
            repeated=repeated,
            group_by=group_by,
            suites=suites,
        )

    def offline_warning(self, *, judge_offline: bool) -> str | None:
        """:data:`OFFLINE_JUDGE_WARNING` when an offline judge scored something."""
        return OFFLINE_JUDGE_WARNING if judge_offline and self.semantic else None
