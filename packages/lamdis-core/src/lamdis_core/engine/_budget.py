"""A judge that stays within a run's money budget (``--max-cost``)."""

from __future__ import annotations

import asyncio

from lamdis_core.domain.results import Usage
from lamdis_core.engine._test_run import Stopped
from lamdis_core.ports.judge import (
    Extraction,
    ExtractRequest,
    Judge,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)
from lamdis_core.pricing import Budget


class BudgetedJudge:
    """Delegates to ``judge`` while the budget allows another call; once it does not, sets
    ``stop`` (the run ends within one turn, finished items kept) and raises
    :class:`Stopped`, so the call that would overspend is never made."""

    def __init__(self, judge: Judge, budget: Budget, stop: asyncio.Event) -> None:
        self.judge = judge
        self.budget = budget
        self.stop = stop
        self.name = judge.name
        self.offline = judge.offline

    def _admit(self) -> None:
        if not self.budget.allows():
            self.stop.set()
            raise Stopped

    def _charge(self, usage: Usage) -> None:
        self.budget.charge(usage)
        if self.budget.reason is not None:
            self.stop.set()

    async def evaluate(self, request: JudgeRequest) -> Verdict:
        self._admit()
        verdict = await self.judge.evaluate(request)
        self._charge(verdict.usage)
        return verdict

    async def open_conversation(self, request: OpeningRequest) -> tuple[str, Usage]:
        self._admit()
        message, usage = await self.judge.open_conversation(request)
        self._charge(usage)
        return message, usage

    async def extract(self, request: ExtractRequest) -> Extraction:
        self._admit()
        extraction = await self.judge.extract(request)
        self._charge(extraction.usage)
        return extraction

    async def aclose(self) -> None:  # the composition root closes the real judge
        return None
