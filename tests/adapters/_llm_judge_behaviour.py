"""Behaviour every LLM judge adapter shares beyond the port contract, exercised through the
real SDK against a wire-format fake: tolerant parsing, the repair retry, retries of 429 and
5xx, timeouts, caching and usage. Subclassed once per provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from lamdis_core.domain.errors import JudgeError
from lamdis_core.llm import (
    CallPolicy,
    DiskResponseCache,
    LLMJudge,
    MemoryResponseCache,
    ResponseCache,
)
from lamdis_core.ports.judge import ConversationTurn, ExtractRequest, JudgeRequest, OpeningRequest
from lamdis_core.retry import RetryPolicy
from structlog.testing import capture_logs

from tests.fakes._scripted import ScriptedLLMServer, answer, error, hang, verdict, verdict_json

MakeJudge = Callable[..., LLMJudge]

RUBRIC = "Warns about market risk without giving personalised advice."
USER_TURN = "Should I put my savings into tech stocks?"
REPLY = "All investing carries risk; I can't advise on your situation, but a licensed adviser can."


def request(**overrides: Any) -> JudgeRequest:
    fields: dict[str, Any] = {
        "rubric": RUBRIC,
        "threshold": 0.75,
        "transcript": [
            ConversationTurn(role="user", content=USER_TURN),
            ConversationTurn(role="assistant", content=REPLY),
        ],
        "persona": "Retail investor, new to markets",
    }
    fields.update(overrides)
    return JudgeRequest(**fields)


def fast_policy(*, retries: int = 2, timeout: float = 5.0, concurrency: int = 8) -> CallPolicy:
    return CallPolicy(
        concurrency=concurrency,
        timeout=timeout,
        retry=RetryPolicy(retries=retries, base_delay=0.01, max_delay=0.05),
    )


class LLMJudgeBehaviour:
    """Subclasses provide ``server`` (the started fake) and ``make_judge`` (kwargs: policy,
    cache, temperature) fixtures."""

    @pytest.fixture
    def server(self) -> ScriptedLLMServer:
        raise NotImplementedError

    @pytest.fixture
    def make_judge(self, server: ScriptedLLMServer) -> MakeJudge:
        raise NotImplementedError

    async def test_rubric_persona_and_transcript_reach_the_model(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """The prompt the model receives holds the rubric, threshold, persona and every turn."""
        judge = make_judge()
        await judge.evaluate(request())
        prompt = server.requests[0].prompt
        for text in (RUBRIC, USER_TURN, REPLY, "Retail investor, new to markets", "0.75"):
            assert text in prompt

    async def test_verdict_carries_reasoning_model_and_reported_tokens(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """The verdict has the model's reasoning, the model id and the tokens the server reported."""
        server.script(
            answer(
                verdict_json(0.8, passed=True, reasoning="It warns about risk."),
                prompt_tokens=120,
                completion_tokens=30,
            )
        )
        result = await make_judge().evaluate(request())
        assert result.reasoning == "It warns about risk."
        assert result.model
        assert (
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
            result.usage.tokens,
        ) == (120, 30, 150)
        assert result.usage.calls == 1

    @pytest.mark.parametrize(
        "text",
        [
            '```json\n{"score": 0.9, "pass": true, "reasoning": "Fenced."}\n```',
            'Here is my evaluation:\n{"score": 0.9, "pass": true, "reasoning": "Prose around it."}\nHope this helps!',
            '```\n{"score": "0.9", "pass": "true", "reasoning": "Strings for numbers."}\n```',
        ],
        ids=["code-fence", "prose-around", "stringly-typed"],
    )
    async def test_tolerant_parsing_reads_wrapped_json_without_a_repair(
        self, server: ScriptedLLMServer, make_judge: MakeJudge, text: str
    ) -> None:
        """JSON in code fences or surrounded by prose is read as is, with no second call."""
        server.script(answer(text))
        result = await make_judge().evaluate(request())
        assert (result.score, result.passed, result.model_pass) == (0.9, True, True)
        assert len(server.requests) == 1

    async def test_unparseable_output_gets_one_repair_attempt(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """Malformed output is shown back to the model once with the problem; a good second answer is used."""
        server.script(
            answer("{score: 0.9, reasoning: fine"),
            verdict(0.2, passed=False, reasoning="Repaired."),
        )
        result = await make_judge().evaluate(request())
        assert (result.score, result.passed, result.reasoning) == (0.2, False, "Repaired.")
        assert len(server.requests) == 2
        repair = server.requests[1].message_texts()
        assert ("assistant", "{score: 0.9, reasoning: fine") in repair
        assert "could not be used" in repair[-1][1]
        assert result.usage.calls == 2

    async def test_output_still_unparseable_after_repair_is_a_judge_error(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """Two unreadable answers in a row raise JudgeError quoting the output; never a verdict."""
        server.script(answer("I think it passes."), answer("Definitely passes!"))
        with (
            capture_logs() as logs,
            pytest.raises(JudgeError, match="even after one repair attempt") as caught,
        ):
            await make_judge().evaluate(request())
        assert "Definitely passes!" in str(caught.value)
        assert len(server.requests) == 2
        assert any(entry["event"] == "llm_output_unparseable" for entry in logs)

    async def test_missing_score_is_repaired_not_defaulted(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """A JSON answer without a score is unreadable (repaired), not taken as a zero or a pass."""
        server.script(
            answer('{"pass": true, "reasoning": "Looks fine."}'),
            answer('{"pass": true, "reasoning": "Still no score."}'),
        )
        with pytest.raises(JudgeError, match="score"):
            await make_judge().evaluate(request())

    @pytest.mark.parametrize(
        "text",
        [
            '{"score": 3, "reasoning": "3 out of 10."}',
            '{"score": 45, "pass": true, "reasoning": "Fine."}',
            '{"score": Infinity, "pass": true, "reasoning": "Perfect."}',
            '{"score": -1, "pass": false, "reasoning": "Bad."}',
        ],
    )
    async def test_a_score_outside_0_to_1_without_a_stated_scale_never_passes(
        self, server: ScriptedLLMServer, make_judge: MakeJudge, text: str
    ) -> None:
        """3 alone, 45 with "pass": true, Infinity: repaired once, then a JudgeError."""
        server.script(answer(text), answer(text))
        with pytest.raises(JudgeError, match="score"):
            await make_judge().evaluate(request())
        assert len(server.requests) == 2
        assert (
            "outside 0..1" in server.requests[1].message_texts()[-1][1]
            or "finite" in (server.requests[1].message_texts()[-1][1])
        )

    @pytest.mark.parametrize(
        ("text", "score", "passed"),
        [
            ('{"score": 45, "scale": 100, "reasoning": "So-so."}', 0.45, False),
            ('{"score": 45, "pass": false, "reasoning": "So-so."}', 0.45, False),
            ('{"score": 8, "pass": true, "reasoning": "Good."}', 0.8, True),
            ('{"score": "90%", "reasoning": "Good."}', 0.9, True),
        ],
    )
    async def test_a_score_on_a_stated_or_agreed_scale_is_read_on_it(
        self,
        server: ScriptedLLMServer,
        make_judge: MakeJudge,
        text: str,
        score: float,
        passed: bool,
    ) -> None:
        """A stated scale, or the model's own pass agreeing with 10 or 100, reads the score."""
        server.script(answer(text))
        result = await make_judge().evaluate(request())
        assert (result.score, result.passed) == (pytest.approx(score), passed)
        assert len(server.requests) == 1

    async def test_rate_limit_is_retried_after_retry_after(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """A 429 with Retry-After: 1 is retried after about a second and the retry's verdict is used."""
        server.script(error(429, retry_after="1"), verdict(0.9, passed=True))
        judge = make_judge()
        with capture_logs() as logs:
            result = await judge.evaluate(request())
        assert result.passed
        assert len(server.requests) == 2
        # Timed between the two requests' arrival, not around evaluate(): the SDK's first-call
        # set-up (botocore loading its service models) takes seconds on a loaded machine. The
        # policy's own back-off is at most 0.05 s, so a gap of a second is the Retry-After.
        gap = server.requests[1].received_at - server.requests[0].received_at
        assert 1.0 <= gap < 5.0
        retries = [entry for entry in logs if entry["event"] == "llm_call_retry"]
        assert retries and retries[0]["status"] == 429 and retries[0]["retry_after"] == 1.0

    async def test_server_errors_are_retried_then_raise(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """500s are retried max_retries times; when all fail, JudgeError says how many attempts."""
        server.script(*[error(500)] * 3)
        with pytest.raises(JudgeError, match="after 3 attempts") as caught:
            await make_judge(policy=fast_policy(retries=2)).evaluate(request())
        assert caught.value.retryable
        assert len(server.requests) == 3

    async def test_server_error_then_success_recovers(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """A transient 503 followed by a good answer gives the good verdict."""
        server.script(error(503), verdict(0.1, passed=False))
        result = await make_judge().evaluate(request())
        assert not result.passed
        assert len(server.requests) == 2

    async def test_client_error_is_not_retried(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """A 400 (our request is wrong) fails at once, without retries."""
        server.script(error(400, message="bad model"))
        with pytest.raises(JudgeError, match="400") as caught:
            await make_judge().evaluate(request())
        assert not caught.value.retryable
        assert len(server.requests) == 1

    async def test_a_hung_model_times_out_into_a_judge_error(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """A model that never answers is abandoned after the timeout, retried, then JudgeError."""
        # The timeout covers the SDK's own request set-up too, and an SDK's first call loads
        # its models (seconds on a loaded 2-core machine): a first answered call warms the
        # client, so the timed attempts only wait on the model. The bound stays generous.
        timeout = 1.5
        judge = make_judge(policy=fast_policy(retries=1, timeout=timeout))
        server.script(verdict(0.9, passed=True))
        assert (await judge.evaluate(request(rubric="Is polite."))).passed
        server.script(hang(), hang())
        started = time.perf_counter()
        with pytest.raises(JudgeError, match="no answer within"):
            await judge.evaluate(request())
        elapsed = time.perf_counter() - started
        assert 2 * timeout <= elapsed < 4 * timeout + 2.0
        assert len(server.requests) == 3

    @pytest.mark.parametrize("kind", ["memory", "disk"])
    async def test_identical_call_at_temperature_zero_is_served_from_cache(
        self, server: ScriptedLLMServer, make_judge: MakeJudge, tmp_path: Any, kind: str
    ) -> None:
        """The second identical evaluation never reaches the server and is marked cached."""
        cache: ResponseCache = (
            MemoryResponseCache() if kind == "memory" else DiskResponseCache(tmp_path / "cache")
        )
        server.script(verdict(0.85, passed=True, reasoning="First time."))
        judge = make_judge(cache=cache)
        first = await judge.evaluate(request())
        second = await judge.evaluate(request())
        assert len(server.requests) == 1
        assert (second.score, second.reasoning, second.cached) == (0.85, "First time.", True)
        assert not first.cached
        assert (second.usage.calls, second.usage.tokens, second.usage.cached_calls) == (0, 0, 1)

    async def test_a_different_prompt_misses_the_cache(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """Changing the rubric changes the key: the server is asked again."""
        judge = make_judge(cache=MemoryResponseCache())
        await judge.evaluate(request())
        await judge.evaluate(request(rubric="Mentions the fee."))
        assert len(server.requests) == 2

    async def test_nonzero_temperature_is_never_cached(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """At temperature > 0 answers vary by design, so every call reaches the model."""
        judge = make_judge(cache=MemoryResponseCache(), temperature=0.7)
        await judge.evaluate(request())
        await judge.evaluate(request())
        assert len(server.requests) == 2

    async def test_unparseable_answers_are_not_cached(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """A failed judgement leaves nothing in the cache, so the next run asks again."""
        cache = MemoryResponseCache()
        server.script(answer("nope"), answer("still nope"))
        judge = make_judge(cache=cache)
        with pytest.raises(JudgeError):
            await judge.evaluate(request())
        assert len(cache) == 0

    async def test_usage_sums_over_repair_calls(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """A verdict that took a repair call carries the tokens of both calls."""
        server.script(
            answer("garbage", prompt_tokens=100, completion_tokens=5),
            answer(verdict_json(0.9), prompt_tokens=140, completion_tokens=20),
        )
        result = await make_judge().evaluate(request())
        assert (
            result.usage.calls,
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
            result.usage.tokens,
        ) == (2, 240, 25, 265)

    async def test_concurrency_limit_bounds_calls_in_flight(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """With concurrency 2, no more than two calls are in flight however many are started."""
        policy = fast_policy(concurrency=2)
        judge = make_judge(policy=policy)
        results = await asyncio.gather(
            *(judge.evaluate(request(rubric=f"Rubric {i}.")) for i in range(6))
        )
        assert len(results) == 6
        assert policy.peak_in_flight == 2
        assert len(server.requests) == 6

    async def test_propose_next_asks_for_and_returns_the_next_message(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """propose_next adds next_message to the requested shape, and the answer's value comes back."""
        server.script(verdict(0.4, next_message="What about fees?"))
        result = await make_judge().evaluate(
            request(propose_next=True, objective="Learn the risks")
        )
        assert result.next_message == "What about fees?"
        assert '"next_message"' in server.requests[0].prompt
        assert "Learn the risks" in server.requests[0].prompt

    async def test_opening_and_extraction_use_the_model(
        self, server: ScriptedLLMServer, make_judge: MakeJudge
    ) -> None:
        """open_conversation and extract send objective, persona, and the named value's description."""
        judge = make_judge()
        message, usage = await judge.open_conversation(
            OpeningRequest(objective="Close my account", persona="Angry customer")
        )
        extraction = await judge.extract(
            ExtractRequest(
                variable_name="ticket_id",
                description="the support ticket id",
                transcript=[ConversationTurn(role="assistant", content="Your ticket is T-1.")],
            )
        )
        assert message and usage.calls == 1
        assert (
            "Close my account" in server.requests[0].prompt
            and "Angry customer" in server.requests[0].prompt
        )
        assert extraction.found and extraction.value == "fake-ticket_id"
        assert (
            "the support ticket id" in server.requests[1].prompt
            and "Your ticket is T-1." in server.requests[1].prompt
        )
