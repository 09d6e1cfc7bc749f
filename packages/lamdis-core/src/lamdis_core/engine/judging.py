"""Asking the judge about a rubric and recording its answer as a check.

Shared by a live run and by re-judging a recorded one (``lamdis rejudge``), so both score,
sample and record in exactly the same way. A judge check's details hold what re-judging
needs: the rubric as judged, the scope, the threshold, how many transcript entries were
judged, and the persona and objective the judge saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import attrs

from lamdis_core.domain.config import Severity
from lamdis_core.domain.results import Check, ItemStatus, Usage
from lamdis_core.ports.judge import NEEDS_LLM, Judge, JudgeRequest, Verdict

JUDGE_CHECK_TYPES = frozenset({"assistant_check", "judge"})
"""Check types whose verdict is a rubric score (re-judging re-asks these)."""


async def evaluate_sampled(judge: Judge, request: JudgeRequest, samples: int = 1) -> Verdict:
    """Ask ``judge`` ``samples`` times and combine the answers (:func:`combine_samples`).

    Each sample is a separate request (``JudgeRequest.sample`` = 0, 1, ...), so a caching
    judge keeps one answer per sample instead of answering every sample from the first.

    Raises:
        JudgeError: any sample could not be judged (the check is then an error, not a pass).
    """
    if samples <= 1:
        return await judge.evaluate(request)
    verdicts = await asyncio.gather(
        *(judge.evaluate(attrs.evolve(request, sample=i)) for i in range(samples))
    )
    return combine_samples(verdicts, request.threshold)


def combine_samples(verdicts: Sequence[Verdict], threshold: float) -> Verdict:
    """The median verdict of several samples: the score is the median of the scores, the
    pass is ``median >= threshold``, the reasoning (and next message) that of the sample
    nearest the median; usage is summed; ``samples`` keeps every score. If any sample was
    unassessed, so is the result."""
    scores = [v.score for v in verdicts]
    import statistics  # its import (fractions, decimal) is a start-up cost most runs skip

    median = float(statistics.median(scores))
    nearest = min(verdicts, key=lambda v: abs(v.score - median))
    usage = Usage()
    for verdict in verdicts:
        usage.add(verdict.usage)
    unassessed = next((v.unassessed for v in verdicts if v.unassessed), None)
    return attrs.evolve(
        nearest,
        score=round(median, 4),
        passed=unassessed is None and median >= threshold,
        usage=usage,
        cached=all(v.cached for v in verdicts),
        unassessed=unassessed,
        samples=tuple(scores),
    )


def judge_check(
    kind: str,
    subtype: str,
    name: str | None,
    severity: Severity,
    verdict: Verdict,
    request: JudgeRequest,
    *,
    require_llm_judge: bool = False,
    raw_rubric: str | None = None,
    **extra: Any,
) -> Check:
    """The check recording ``verdict`` on ``request``.

    An unassessed verdict is a ``skipped`` check ("needs an LLM judge"), or a failed one with
    ``require_llm_judge``.
    """
    details: dict[str, Any] = {
        "score": verdict.score,
        "threshold": verdict.threshold,
        "reasoning": verdict.reasoning,
        "model": verdict.model,
        **extra,
        "rubric": request.rubric,
        "scope": request.scope,
        "transcriptLength": len(request.transcript),
    }
    if raw_rubric is not None and raw_rubric != request.rubric:
        details["rubricTemplate"] = raw_rubric
    if request.persona:
        details["persona"] = request.persona
    if request.objective:
        details["objective"] = request.objective
    if len(verdict.samples) > 1:
        details["samples"] = list(verdict.samples)
        details["spread"] = round(max(verdict.samples) - min(verdict.samples), 4)
    if verdict.model_pass is not None:
        details["modelPass"] = verdict.model_pass
    if verdict.cached:
        details["cached"] = True
    if verdict.usage.calls:
        # What this judge call cost (None: a model without a price, never a made-up 0).
        details["tokens"] = verdict.usage.tokens
        details["costUsd"] = verdict.usage.cost_usd
    if verdict.unassessed:
        details["needsLlmJudge"] = True
        details["reasoning"] = (
            f"{verdict.unassessed} (--require-llm-judge makes this a failure)"
            if require_llm_judge
            else verdict.unassessed
        )
        details["judgeReasoning"] = verdict.reasoning
    return Check(
        type=kind,
        subtype=subtype,
        name=name,
        passed=verdict.passed and not verdict.unassessed,
        severity=severity,
        details=details,
        skipped=bool(verdict.unassessed) and not require_llm_judge,
    )


def judge_error_check(name: str | None, request: JudgeRequest, error: str) -> Check:
    """The check recording a judge that could not judge: an error, never a pass. It keeps
    what the judge was asked, so the run can be re-judged."""
    details: dict[str, Any] = {
        "rubric": request.rubric,
        "threshold": request.threshold,
        "reasoning": f"judge error: {error}",
        "scope": request.scope,
        "transcriptLength": len(request.transcript),
    }
    if request.persona:
        details["persona"] = request.persona
    if request.objective:
        details["objective"] = request.objective
    return Check(
        type="assistant_check",
        subtype="judge",
        name=name,
        passed=False,
        error=error,
        details=details,
    )


def item_status(checks: Sequence[Check], error: str | None) -> tuple[ItemStatus, str | None]:
    """An item's status from its checks (and the error that stopped it, if any): error, else
    failed, else skipped (a check could not be assessed), else passed; with the reason."""
    judge_errors = [ch.error for ch in checks if ch.error]
    if error is None and judge_errors:
        error = f"a check could not be evaluated: {judge_errors[0]}"
    if error is not None:
        return ItemStatus.ERROR, error
    if any(ch.fails_test for ch in checks):
        return ItemStatus.FAILED, None
    skipping = [ch for ch in checks if ch.skips_test]
    if skipping:
        first = skipping[0]
        label = first.name or first.type
        return ItemStatus.SKIPPED, f"{label}: {first.details.get('reasoning', NEEDS_LLM)}"
    return ItemStatus.PASSED, None
