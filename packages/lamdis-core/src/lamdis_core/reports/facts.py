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
        gathering = FactsBuilder(group_by=group_by)
        for item in items:
            gathering.add(item)
        return gathering.facts(gate)

    def offline_warning(self, *, judge_offline: bool) -> str | None:
        """:data:`OFFLINE_JUDGE_WARNING` when an offline judge scored something."""
        return OFFLINE_JUDGE_WARNING if judge_offline and self.semantic else None


class FactsBuilder:
    """:meth:`ReportFacts.of` fed one item at a time (in plan order), for a caller that
    reads the items for figures of its own anyway (the engine's totals)."""

    def __init__(self, *, group_by: GroupBy = "assistant") -> None:
        self.group_by: GroupBy = group_by
        self.rows = RowBuilders()
        self.throttling = Throttling()
        self.semantic = False
        self.repeated = False
        self.suites: dict[str, SuiteCounts] = {}
        self.position = 0

    def add(self, item: Item) -> None:
        self.rows.add(item)
        if item.throttling is not None:
            self.throttling.add(item.throttling)
        self.semantic = self.semantic or semantic_checks_ran((item,))
        self.repeated = self.repeated or item.repeat > 0
        key = item.assistant if self.group_by == "assistant" else (item.file or "(no file)")
        suite = self.suites.get(key)
        if suite is None:
            suite = self.suites[key] = SuiteCounts()
        suite.add(self.position, item)
        self.position += 1

    def facts(self, gate: PassRateGate | None = None) -> ReportFacts:
        return ReportFacts(
            rows=self.rows.rows(gate or PassRateGate()),
            throttling=self.throttling,
            semantic=self.semantic,
            repeated=self.repeated,
            group_by=self.group_by,
            suites=self.suites,
        )
