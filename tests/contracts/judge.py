"""The Judge port's contract: every judge adapter must pass these tests.

Subclass :class:`JudgeContract` and provide the ``judge`` fixture (a fresh judge; the
contract closes nothing, so close it in the fixture). How a test gets the verdict it needs
depends on the judge:

- A judge backed by a model whose answers a test can script (OpenAI, Bedrock, the external
  service, each against its fake server) sets ``scriptable = True`` and implements the
  ``arrange_*`` hooks. The default ``*_case`` hooks then script the answer and return a
  matching request, and the tests that need full control (model flag versus computed pass,
  clamping, failures) run too.
- A judge whose verdict cannot be scripted (the offline heuristic judge) leaves
  ``scriptable = False`` and overrides the ``*_case`` hooks to return requests it is known to
  pass, fail, or extract from. The tests that need scripting skip, saying why; every other
  obligation still holds it.

``can_open`` / ``can_extract`` false means the judge's backend has no such operation (the
external judge service only scores); the contract then requires a :class:`JudgeError`
instead of an answer, never a made-up one.

A subclass may not quietly weaken the contract: the guard test fails when a contract test is
replaced without ``@contract_override("why")`` or deleted.
"""

from __future__ import annotations

import asyncio
import math
from typing import ClassVar

import pytest
from lamdis_core.domain.errors import JudgeError
from lamdis_core.domain.results import Usage
from lamdis_core.ports.judge import (
    ConversationTurn,
    ExtractRequest,
    Judge,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)

from tests.contracts.store import _Contract, contract_override

__all__ = ["JudgeContract", "contract_override", "sample_request"]

RUBRIC = "The assistant explains the fee schedule and mentions the withdrawal penalty."
GOOD_REPLY = "Our fee schedule is 1% a year, and early withdrawal carries a 10% penalty."
BAD_REPLY = "I cannot help with that."


def sample_request(
    reply: str = GOOD_REPLY,
    *,
    rubric: str = RUBRIC,
    threshold: float = 0.7,
    propose_next: bool = False,
    scope: str = "last",
) -> JudgeRequest:
    """A two-turn conversation about fees, ending in ``reply``."""
    return JudgeRequest(
        rubric=rubric,
        threshold=threshold,
        transcript=[
            ConversationTurn(role="user", content="What fees do you charge?"),
            ConversationTurn(role="assistant", content=reply),
        ],
        scope=scope,  # type: ignore[arg-type]
        persona="Retail investor, careful with money",
        objective="Understand the costs before opening an account",
        propose_next=propose_next,
    )


def _extract_request(*, found: bool) -> ExtractRequest:
    """A conversation that states the account number (``found``) or withholds it."""
    text = "My account number is 48213." if found else "I would rather not say."
    return ExtractRequest(
        variable_name="account_number",
        description="the customer's account number",
        transcript=[
            ConversationTurn(role="user", content=text),
            ConversationTurn(role="assistant", content="Thank you."),
        ],
    )


def _assert_well_formed(verdict: Verdict, request: JudgeRequest) -> None:
    assert isinstance(verdict, Verdict)
    assert 0.0 <= verdict.score <= 1.0 and not math.isnan(verdict.score)
    assert verdict.threshold == request.threshold
    assert verdict.passed == (verdict.score >= request.threshold)


class JudgeContract(_Contract):
    """Obligations of :class:`lamdis_core.ports.judge.Judge`, one test each."""

    scriptable: ClassVar[bool] = False
    can_open: ClassVar[bool] = True
    can_extract: ClassVar[bool] = True

    # --- what a subclass provides ---------------------------------------------------------

    @pytest.fixture
    def judge(self) -> Judge:
        raise NotImplementedError("provide a judge fixture in the subclass")

    def arrange_verdict(
        self,
        *,
        score: float,
        model_pass: bool | None = None,
        reasoning: str = "The reply names the fee and the penalty.",
        next_message: str | None = None,
    ) -> None:
        """Make the judge's next verdict carry these values (scriptable judges only)."""
        pytest.skip(f"{type(self).__name__}: this judge's verdicts cannot be scripted")

    def arrange_failure(self) -> None:
        """Make the judge's next call fail for good (backend down), whatever retries it makes."""
        pytest.skip(f"{type(self).__name__}: this judge's backend cannot be made to fail")

    def arrange_opening(self, message: str) -> None:
        """Make the judge's next opening message be ``message``."""
        pytest.skip(f"{type(self).__name__}: this judge's openings cannot be scripted")

    def arrange_extraction(self, *, found: bool, value: object) -> None:
        """Make the judge's next extraction answer ``found`` / ``value``."""
        pytest.skip(f"{type(self).__name__}: this judge's extractions cannot be scripted")

    def passing_case(self) -> JudgeRequest:
        """A request this judge passes."""
        self.arrange_verdict(score=0.9, model_pass=True)
        return sample_request(GOOD_REPLY)

    def failing_case(self) -> JudgeRequest:
        """A request this judge fails."""
        self.arrange_verdict(
            score=0.1, model_pass=False, reasoning="The reply mentions no fee at all."
        )
        return sample_request(BAD_REPLY)

    def proposing_case(self) -> JudgeRequest:
        """A request with ``propose_next`` this judge can answer."""
        self.arrange_verdict(
            score=0.3, model_pass=False, next_message="And is there a penalty if I withdraw early?"
        )
        return sample_request(BAD_REPLY, propose_next=True)

    def opening_case(self) -> OpeningRequest:
        """An opening request this judge can answer."""
        self.arrange_opening("Hi, what would it cost me to open an account?")
        return OpeningRequest(objective="Find out the account fees", persona="Retail investor")

    def extraction_case(self, *, found: bool) -> ExtractRequest:
        """A request whose conversation states the value (``found``) or does not."""
        self.arrange_extraction(found=found, value=48213 if found else None)
        return _extract_request(found=found)

    # --- the contract ---------------------------------------------------------------------

    async def test_name_and_offline_flag_identify_the_judge(self, judge: Judge) -> None:
        """A judge has a non-empty name for reports and says whether it is offline."""
        assert isinstance(judge.name, str) and judge.name.strip()
        assert isinstance(judge.offline, bool)

    async def test_a_reply_that_meets_the_rubric_passes(self, judge: Judge) -> None:
        """The passing case gives a well-formed verdict with passed true."""
        request = self.passing_case()
        verdict = await judge.evaluate(request)
        _assert_well_formed(verdict, request)
        assert verdict.passed

    async def test_a_reply_that_misses_the_rubric_fails(self, judge: Judge) -> None:
        """The failing case gives a well-formed verdict with passed false."""
        request = self.failing_case()
        verdict = await judge.evaluate(request)
        _assert_well_formed(verdict, request)
        assert not verdict.passed

    async def test_verdict_explains_itself(self, judge: Judge) -> None:
        """Every verdict carries non-empty reasoning and the model that gave it."""
        for request in (self.passing_case(), self.failing_case()):
            verdict = await judge.evaluate(request)
            assert isinstance(verdict.reasoning, str) and verdict.reasoning.strip()
            assert isinstance(verdict.model, str) and verdict.model.strip()

    async def test_passed_is_computed_from_score_not_the_model_flag(self, judge: Judge) -> None:
        """passed is score >= threshold even when the model's own pass flag says otherwise,
        and the model's flag is kept as model_pass."""
        self.arrange_verdict(score=0.4, model_pass=True)
        lenient = await judge.evaluate(sample_request(threshold=0.7))
        self.arrange_verdict(score=0.9, model_pass=False)
        strict = await judge.evaluate(sample_request(threshold=0.7))
        assert (lenient.passed, lenient.model_pass) == (False, True)
        assert (strict.passed, strict.model_pass) == (True, False)

    async def test_score_outside_the_unit_interval_without_a_scale_is_a_judge_error(
        self, judge: Judge
    ) -> None:
        """A score above 1 or below 0 that no scale explains is never clamped into a pass."""
        for score, threshold in ((1.7, 1.0), (-0.5, 0.0)):
            # Arranged twice: a judge that asks its model to repair unreadable output gets
            # the same answer again.
            self.arrange_verdict(score=score)
            self.arrange_verdict(score=score)
            with pytest.raises(JudgeError, match="score"):
                await judge.evaluate(sample_request(threshold=threshold))

    async def test_score_outside_the_unit_interval_is_read_on_the_scale_its_pass_agrees_with(
        self, judge: Judge
    ) -> None:
        """45 with pass false reads 0.45 (out of 100); 8 with pass true reads 0.8 (out of 10)."""
        self.arrange_verdict(score=45, model_pass=False)
        low = await judge.evaluate(sample_request(threshold=0.7))
        self.arrange_verdict(score=8, model_pass=True)
        high = await judge.evaluate(sample_request(threshold=0.7))
        assert (low.score, low.passed) == (pytest.approx(0.45), False)
        assert (high.score, high.passed) == (pytest.approx(0.8), True)

    async def test_threshold_is_echoed_back(self, judge: Judge) -> None:
        """The verdict's threshold is the request's threshold, whatever the backend says."""
        request = self.passing_case()
        request = JudgeRequest(
            rubric=request.rubric,
            threshold=0.33,
            transcript=request.transcript,
            scope=request.scope,
            persona=request.persona,
        )
        verdict = await judge.evaluate(request)
        assert verdict.threshold == 0.33

    async def test_propose_next_gives_a_next_user_message(self, judge: Judge) -> None:
        """With propose_next the verdict carries a non-empty next user message."""
        verdict = await judge.evaluate(self.proposing_case())
        assert isinstance(verdict.next_message, str) and verdict.next_message.strip()

    async def test_open_conversation_gives_an_opening_message(self, judge: Judge) -> None:
        """open_conversation returns a non-empty message and its usage, or JudgeError when the
        judge has no such operation."""
        if not self.can_open:
            with pytest.raises(JudgeError):
                await judge.open_conversation(OpeningRequest(objective="Find out the fees"))
            return
        message, usage = await judge.open_conversation(self.opening_case())
        assert isinstance(message, str) and message.strip()
        assert isinstance(usage, Usage)

    async def test_extract_finds_a_stated_value(self, judge: Judge) -> None:
        """A value stated in the conversation is extracted with found true."""
        if not self.can_extract:
            with pytest.raises(JudgeError):
                await judge.extract(_extract_request(found=True))
            return
        extraction = await judge.extract(self.extraction_case(found=True))
        assert extraction.found
        assert extraction.value in (48213, "48213")
        assert extraction.model.strip()

    async def test_extract_reports_an_absent_value_as_not_found(self, judge: Judge) -> None:
        """A value the conversation does not hold is found false with value None, never a guess."""
        if not self.can_extract:
            with pytest.raises(JudgeError):
                await judge.extract(_extract_request(found=False))
            return
        extraction = await judge.extract(self.extraction_case(found=False))
        assert not extraction.found
        assert extraction.value is None

    async def test_a_judge_that_cannot_judge_raises_never_passes(self, judge: Judge) -> None:
        """When the backend fails for good, evaluate raises JudgeError instead of returning a verdict."""
        self.arrange_failure()
        with pytest.raises(JudgeError):
            await judge.evaluate(sample_request(GOOD_REPLY))

    async def test_usage_is_reported_with_each_verdict(self, judge: Judge) -> None:
        """Each verdict carries non-negative usage; a judge that is not offline counts its calls."""
        verdict = await judge.evaluate(self.passing_case())
        usage = verdict.usage
        assert isinstance(usage, Usage)
        counts = (
            usage.tokens,
            usage.calls,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_calls,
        )
        assert all(isinstance(n, int) and n >= 0 for n in counts)
        if not judge.offline:
            assert usage.calls + usage.cached_calls >= 1

    async def test_concurrent_evaluations_each_get_their_own_verdict(self, judge: Judge) -> None:
        """Evaluations run concurrently on one judge each return a well-formed verdict."""
        requests = [self.passing_case() for _ in range(4)] + [self.failing_case() for _ in range(4)]
        verdicts = await asyncio.gather(*(judge.evaluate(r) for r in requests))
        for request, verdict in zip(requests, verdicts, strict=True):
            _assert_well_formed(verdict, request)

    async def test_aclose_releases_the_judge(self, judge: Judge) -> None:
        """aclose completes after use and may be called again without error."""
        await judge.evaluate(self.passing_case())
        await judge.aclose()
        await judge.aclose()


JudgeContract._contract = JudgeContract
