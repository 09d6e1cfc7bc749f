"""The rows every report shares: one per test x assistant, with pass rates when repeated.

The console table, the Markdown summary and the JSON report all read these, so a test that
shows ``failed`` in one report shows ``failed`` in every other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from lamdis_core.domain.base import Value
from lamdis_core.domain.results import Check, Item, ItemStatus
from lamdis_core.reports.stats import PassRateGate, RepeatTally

OFFLINE_JUDGE_WARNING = "semantic checks ran without an LLM (offline heuristic judge)"
"""The warning every report carries when rubric checks were scored by the offline judge."""

# Worst first: a group of repeats shows its worst outcome, so a flaky test never looks green.
_SEVERITY_ORDER = (ItemStatus.ERROR, ItemStatus.FAILED, ItemStatus.SKIPPED, ItemStatus.PASSED)

# Check types whose verdict comes from the judge (rubric checks, iterative tests, extraction).
SEMANTIC_CHECK_TYPES = frozenset({"assistant_check", "judge", "iterative", "semantic", "extract"})


@attrs.frozen(kw_only=True, repr=False, eq=False)
class SummaryRow(Value):
    """One test against one assistant, over all its repeats.

    Attributes:
        test_id: the test's id.
        test: the test's display name.
        assistant: the assistant it ran against.
        file: the file the test came from, when known.
        status: the worst status over the repeats (error, failed, skipped, passed);
            :attr:`outcome` says ``flaky`` when some repeats passed and some did not.
        runs: how many times it ran (repeats, including skipped ones).
        passed: how many of those passed.
        turns: assistant replies (the most in any repeat).
        p95_ms: 95th percentile turn latency over every turn of every repeat.
        judge_score: mean judge score over the repeats that had one.
        failure: the first failing check and its reason (or the error) of the first repeat
            that did not pass.
        skipped: how many repeats were skipped (a stopped run).
        tally: the counts per status, for the repeat statistics.
        judge_spread: the widest spread (max - min score) of a sampled rubric check.
        min_pass_rate: the least pass rate the gate asks of this test.
        gate_passed: whether the pass rate meets it (``None``: no repeat was judged).
    """

    test_id: str
    test: str
    assistant: str
    file: str | None
    status: ItemStatus
    runs: int
    passed: int
    turns: int
    p95_ms: float | None
    judge_score: float | None
    failure: str | None

    skipped: int = 0
    tally: RepeatTally = attrs.Factory(RepeatTally)
    judge_spread: float | None = None
    min_pass_rate: float = 1.0
    gate_passed: bool | None = None

    @property
    def pass_rate(self) -> float | None:
        """Passed over judged (skipped repeats do not count); ``None`` when none was judged."""
        judged = self.runs - self.skipped
        return round(self.passed / judged, 4) if judged else None

    @property
    def flaky(self) -> bool:
        """Some repeats passed and some did not."""
        return self.tally.flaky

    @property
    def outcome(self) -> str:
        """What reports show: ``flaky`` for mixed outcomes, else the status."""
        return "flaky" if self.flaky else self.status.value

    @property
    def interval(self) -> tuple[float, float] | None:
        """The Wilson 95% interval of the pass rate."""
        bounds = self.tally.interval
        return None if bounds is None else (round(bounds[0], 4), round(bounds[1], 4))

    @property
    def pass_k(self) -> float | None:
        """pass^k with k = the judged runs (every run passed: 1, else 0 for k = N)."""
        value = self.tally.pass_k()
        return None if value is None else round(value, 4)

    def pass_at(self, k: int) -> float | None:
        """pass^k for another k (``None`` when k exceeds the judged runs)."""
        value = self.tally.pass_k(k)
        return None if value is None else round(value, 4)


def summary_rows(items: Iterable[Item], gate: PassRateGate | None = None) -> list[SummaryRow]:
    """Group items by (test, assistant), in the order each group first appears.

    One pass, holding per group only what its row needs (not the items), so the rows of a
    run spilled to disk cost one read of it.
    """
    rows = RowBuilders()
    for item in items:
        rows.add(item)
    return rows.rows(gate or PassRateGate())


class RowBuilders:
    """The :class:`SummaryRow` of every (test, assistant), fed items in plan order."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], _RowBuilder] = {}

    def add(self, item: Item) -> None:
        key = (item.test_id, item.assistant)
        builder = self._groups.get(key)
        if builder is None:
            builder = self._groups[key] = _RowBuilder(item)
        builder.add(item)

    def rows(self, gate: PassRateGate) -> list[SummaryRow]:
        return [builder.row(gate) for builder in self._groups.values()]


class _RowBuilder:
    """One row's figures so far. Scores and latencies are kept and summed or sorted at the
    end, so the figures are exactly those of the whole group at once."""

    def __init__(self, first: Item) -> None:
        self.test_id = first.test_id
        self.test = first.test_name or first.test_id
        self.assistant = first.assistant
        self.file = first.file
        self.tally = RepeatTally()
        self.statuses: set[ItemStatus] = set()
        self.spread: float | None = None
        self.turns_ms: list[float] = []
        self.scores: list[float] = []
        self.turns = 0
        self.failure: str | None = None
        self.failing = False
        self.skip_reason: str | None = None

    def add(self, item: Item) -> None:
        self.tally.add(item.status)
        self.statuses.add(item.status)
        for check in item.assertions:
            value = check.details.get("spread")
            if isinstance(value, int | float):
                # What max() over the group's spreads keeps: the first of equal values.
                spread = float(value)
                if self.spread is None or spread > self.spread:
                    self.spread = spread
        self.turns_ms.extend(item.timings.per_turn_ms)
        if item.judge_score is not None:
            self.scores.append(item.judge_score)
        self.turns = max(self.turns, turn_count(item))
        if not self.failing and item.status in (ItemStatus.FAILED, ItemStatus.ERROR):
            self.failing = True
            self.failure = failure_text(item)
        elif self.skip_reason is None and item.status is ItemStatus.SKIPPED and item.error:
            self.skip_reason = failure_text(item)

    def row(self, gate: PassRateGate) -> SummaryRow:
        tally = self.tally
        return SummaryRow(
            test_id=self.test_id,
            test=self.test,
            assistant=self.assistant,
            file=self.file,
            status=next(s for s in _SEVERITY_ORDER if s in self.statuses),
            runs=tally.runs,
            passed=tally.passed,
            turns=self.turns,
            p95_ms=percentile(self.turns_ms, 0.95),
            judge_score=round(sum(self.scores) / len(self.scores), 4) if self.scores else None,
            failure=self.failure if self.failing else self.skip_reason,
            skipped=tally.skipped,
            tally=tally,
            judge_spread=self.spread,
            min_pass_rate=gate.minimum(self.test_id),
            gate_passed=gate.passes(self.test_id, tally),
        )


def turn_count(item: Item) -> int:
    """Assistant replies received (what a reader means by "turns")."""
    return max(item.message_counts.assistant, len(item.timings.per_turn_ms))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile, the same rule as :class:`~lamdis_core.domain.results.Timings`."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return round(ordered[int(rank) - 1], 1)


def check_label(check: Check) -> str:
    """``name`` when the author gave one, else ``type`` (``type/subtype``)."""
    if check.name:
        return check.name
    return f"{check.type}/{check.subtype}" if check.subtype else check.type


def check_reason(check: Check) -> str:
    """Why a check failed, in one line: the error, the judge's reasoning, or its details."""
    if check.error:
        return check.error
    details: dict[str, Any] = dict(check.details)
    for key in ("reason", "reasoning", "message"):
        value = details.get(key)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            score, threshold = details.get("score"), details.get("threshold")
            if isinstance(score, int | float) and isinstance(threshold, int | float):
                text = f"score {score:.2f} < {threshold:.2f}: {text}"
            spread, samples = details.get("spread"), details.get("samples")
            if isinstance(spread, int | float) and isinstance(samples, list):
                text = f"{text} (median of {len(samples)} samples, spread {spread:.2f})"
            return text
    if not details:
        return "failed"
    return json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)


def failure_text(item: Item) -> str | None:
    """The first failing check with its reason, or the error of an error item."""
    if item.status is ItemStatus.ERROR:
        return f"error: {item.error or 'the run could not judge this test'}"
    if item.status is ItemStatus.SKIPPED:
        return f"skipped: {item.error}" if item.error else None
    check = item.first_failure
    if check is None:
        return "failed" if item.status is ItemStatus.FAILED else None
    return f"{check_label(check)}: {check_reason(check)}"


def last_exchange(item: Item) -> tuple[str | None, str | None]:
    """The last user message and the assistant reply that followed it (either may be None)."""
    user: str | None = None
    assistant: str | None = None
    for entry in reversed(item.transcript):
        if entry.role == "assistant" and assistant is None and user is None:
            assistant = entry.content
        elif entry.role == "user":
            user = entry.content
            break
    return user, assistant


def semantic_checks_ran(items: Iterable[Item]) -> bool:
    """Whether any verdict came from the judge (a rubric check, an iterative test, an extract)."""
    for item in items:
        if item.judge_score is not None:
            return True
        for check in item.assertions:
            if check.type in SEMANTIC_CHECK_TYPES or "score" in check.details:
                return True
    return False


def offline_warning(items: Iterable[Item], *, judge_offline: bool) -> str | None:
    """:data:`OFFLINE_JUDGE_WARNING` when an offline judge scored something, else ``None``."""
    if judge_offline and semantic_checks_ran(items):
        return OFFLINE_JUDGE_WARNING
    return None


def unassessed_note(count: int) -> str | None:
    """The line every report prints when checks were skipped for needing an LLM judge."""
    if not count:
        return None
    checks = "check" if count == 1 else "checks"
    return (
        f"{count} rubric {checks} skipped: needs an LLM judge (the offline judge cannot assess "
        "them; configure an LLM judge, or pass --require-llm-judge to fail them)"
    )


def one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace and cut to ``limit`` characters (tables want one short line)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def pass_rate_text(row: SummaryRow) -> str:
    """``60% [31-83%] (3/5)``: the pass rate, its Wilson 95% interval and the counts."""
    if row.pass_rate is None:
        return f"(0/{row.runs - row.skipped})"
    text = f"{row.pass_rate:.0%}"
    if row.interval is not None and row.runs - row.skipped > 1:
        text += f" [{row.interval[0]:.0%}-{row.interval[1]:.0%}]"
    return f"{text} ({row.passed}/{row.runs - row.skipped})"


def gate_note(rows: Sequence[SummaryRow]) -> str | None:
    """A line on flaky tests and tests below their minimum pass rate, when there are any."""
    flaky = [r for r in rows if r.flaky]
    below = [r for r in rows if r.gate_passed is False]
    if not flaky and not any(r.runs > 1 for r in rows):
        return None
    parts = [f"{len(flaky)} flaky test{'' if len(flaky) == 1 else 's'}"]
    if below:
        names = ", ".join(
            f"{r.test} ({r.pass_rate or 0:.0%} < {r.min_pass_rate:.0%})" for r in below[:5]
        )
        parts.append(f"{len(below)} below the minimum pass rate: {names}")
    else:
        parts.append("every test meets its minimum pass rate")
    return "; ".join(parts)


def score_text(row: SummaryRow) -> str:
    """The judge score, with the spread of its samples when a check was sampled."""
    if row.judge_score is None:
        return ""
    text = f"{row.judge_score:.2f}"
    return text if row.judge_spread is None else f"{text} (spread {row.judge_spread:.2f})"
