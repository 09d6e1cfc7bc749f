"""The core's reference fake ``ScriptedJudge`` held to the Judge contract, so engine tests that
use it rely only on behaviour the real judges share.
"""

from __future__ import annotations

import pytest
from lamdis_core.domain.errors import JudgeError
from lamdis_core.testing.fakes import ScriptedJudge

from tests.contracts.judge import JudgeContract


class TestScriptedJudgeContract(JudgeContract):
    scriptable = True

    @pytest.fixture
    def judge(self) -> ScriptedJudge:
        self.fake = ScriptedJudge(tokens_per_call=10)
        return self.fake

    def arrange_verdict(
        self,
        *,
        score: float,
        model_pass: bool | None = None,
        reasoning: str = "Fine.",
        next_message: str | None = None,
    ) -> None:
        # Scores are consumed in order, the last one repeating. Scripts given back to back
        # queue up; the first script after an evaluation starts a fresh queue.
        seen = len(self.fake.requests)
        if getattr(self, "_seen", None) != seen:
            self.fake.scores = []
            self.fake.model_passes = []
            self._seen = seen
        self.fake.scores.append(score)
        self.fake.model_passes.append(model_pass)
        if next_message is not None:
            self.fake.next_messages.append(next_message)

    def arrange_failure(self) -> None:
        self.fake.scores = [JudgeError("scripted judge failure")]

    def arrange_opening(self, message: str) -> None:
        self.fake.opening = message

    def arrange_extraction(self, *, found: bool, value: object) -> None:
        if found:
            self.fake.extractions["account_number"] = value
