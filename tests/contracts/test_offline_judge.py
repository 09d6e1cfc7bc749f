"""The offline heuristic judge held to the Judge contract.

Its verdicts cannot be scripted, so it supplies cases it is known to pass, fail and extract
from; the contract tests that need scripting skip and say so.
"""

from __future__ import annotations

import pytest
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.ports.judge import ConversationTurn, ExtractRequest, JudgeRequest, OpeningRequest

from tests.contracts.judge import BAD_REPLY, GOOD_REPLY, JudgeContract, sample_request


class TestOfflineJudgeContract(JudgeContract):
    scriptable = False

    @pytest.fixture
    def judge(self) -> OfflineJudge:
        return OfflineJudge()

    def passing_case(self) -> JudgeRequest:
        # Every content word of the rubric appears in the reply.
        return sample_request(
            GOOD_REPLY, rubric="Mentions the fee schedule and the withdrawal penalty."
        )

    def failing_case(self) -> JudgeRequest:
        return sample_request(
            BAD_REPLY, rubric="Mentions the fee schedule and the withdrawal penalty."
        )

    def proposing_case(self) -> JudgeRequest:
        return sample_request(BAD_REPLY, propose_next=True)

    def opening_case(self) -> OpeningRequest:
        return OpeningRequest(objective="Find out the account fees", persona="Retail investor")

    def extraction_case(self, *, found: bool) -> ExtractRequest:
        text = "My account number is 48213." if found else "I would rather not say."
        return ExtractRequest(
            variable_name="account_number",
            description="the customer's account number",
            transcript=[
                ConversationTurn(role="user", content=text),
                ConversationTurn(role="assistant", content="Thank you."),
            ],
        )
