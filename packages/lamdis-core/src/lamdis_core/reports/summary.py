"""The rows every report shares: one per test x assistant, with pass rates when repeated.

The console table, the Markdown summary and the JSON report all read these, so a test that
shows ``failed`` in one report shows ``failed`` in every other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from lamdis_core.domain.results import Check, Item, ItemStatus

OFFLINE_JUDGE_WARNING = "semantic checks ran without an LLM (offline heuristic judge)"
"""The warning every report carries when rubric checks were scored by the offline judge."""

# Worst first: a group of repeats shows its worst outcome, so a flaky test never looks green.
_SEVERITY_ORDER = (ItemStatus.ERROR, ItemStatus.FAILED, ItemStatus.SKIPPED, ItemStatus.PASSED)

# Check types whose verdict comes from the judge (rubric checks, iterative tests, extraction).
SEMANTIC_CHECK_TYPES = frozenset({"assistant_check", "judge", "iterative", "semantic", "extract"})


@attrs.frozen(kw_only=True)
class SummaryRow:
    """One test against one assistant, over all its repeats.

    Attributes:
        test_id: the test's id.
        test: the test's display name.
        assistant: the assistant it ran against.
        file: the file the test came from, when known.
        status: the worst status over the repeats (error, failed, skipped, passed).
        runs: how many times it ran (repeats, including skipped ones).
        passed: how many of those passed.
        turns: assistant replies (the most in any repeat).
        p95_ms: 95th percentile turn latency over every turn of every repeat.
        judge_score: mean judge score over the repeats that had one.
        failure: the first failing check and its reason (or the error) of the first repeat
            that did not pass.
        skipped: how many repeats were skipped (a stopped run).
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

    @property
    def pass_rate(self) -> float | None:
        """Passed over judged (skipped repeats do not count); ``None`` when none was judged."""
        judged = self.runs - self.skipped
        return round(self.passed / judged, 4) if judged else None


def summary_rows(items: Iterable[Item]) -> list[SummaryRow]:
    """Group items by (test, assistant), in the order each group first appears."""
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        groups.setdefault((item.test_id, item.assistant), []).append(item)
    return [_row(group) for group in groups.values()]


def _row(group: Sequence[Item]) -> SummaryRow:
    first = group[0]
    status = next(s for s in _SEVERITY_ORDER if any(i.status is s for i in group))
    turns_ms = [ms for i in group for ms in i.timings.per_turn_ms]
    scores = [i.judge_score for i in group if i.judge_score is not None]
    failing = next(
        (i for i in group if i.status in (ItemStatus.FAILED, ItemStatus.ERROR)),
        next((i for i in group if i.status is ItemStatus.SKIPPED and i.error), None),
    )
    return SummaryRow(
        test_id=first.test_id,
        test=first.test_name or first.test_id,
        assistant=first.assistant,
        file=first.file,
        status=status,
        runs=len(group),
        passed=sum(1 for i in group if i.status is ItemStatus.PASSED),
        turns=max(turn_count(i) for i in group),
        p95_ms=percentile(turns_ms, 0.95),
        judge_score=round(sum(scores) / len(scores), 4) if scores else None,
        failure=failure_text(failing) if failing else None,
        skipped=sum(1 for i in group if i.status is ItemStatus.SKIPPED),
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
