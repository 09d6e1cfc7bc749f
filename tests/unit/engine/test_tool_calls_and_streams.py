"""tool_called / no_tool_called steps, ttftMs latency checks, conversation ids and throttling
accounting in the engine, against fake targets."""

from __future__ import annotations

from typing import Any

from lamdis_core.domain.errors import TargetError
from lamdis_core.domain.results import ItemStatus
from lamdis_core.ports.target import ToolCall, TurnReply, TurnRequest

from tests.unit.engine.test_engine import engine_with, make_test, plan_of


def with_tools(turn: TurnRequest) -> TurnReply:
    calls: list[ToolCall] = []
    if "weather" in turn.message:
        calls.append(ToolCall(name="get_weather", arguments={"city": "Paris", "days": [1, 2]}))
        calls.append(ToolCall(name="get_weather", arguments={"city": "Oslo", "days": [1, 2]}))
    return TurnReply(text="ok", latency_ms=100.0, tool_calls=calls, ttft_ms=40.0, chunks=3)


async def _run(steps: list[dict[str, Any]], responder: Any = with_tools) -> Any:
    engine, factory, _ = engine_with(responder)
    item = (await engine.run(plan_of(make_test(steps=steps)))).items[0]
    return item, factory


async def test_tool_called_matches_name_arguments_subset_and_times() -> None:
    item, _ = await _run(
        [
            {"type": "message", "content": "weather please"},
            {"type": "tool_called", "tool": "get_weather"},
            {"type": "tool_called", "tool": "get_weather", "arguments": {"city": "Paris"}},
            {"type": "tool_called", "tool": "get_weather", "times": 2},
            {"type": "tool_called", "tool": "get_weather", "arguments": {"city": "Rome"}},
            {"type": "tool_called", "tool": "get_weather", "arguments": {"days": [1]}},
            {"type": "tool_called", "tool": "get_weather", "times": 1},
            {"type": "tool_called", "tool": "book_flight"},
        ]
    )
    verdicts = [check.passed for check in item.assertions]
    assert verdicts == [True, True, True, False, False, False, False]
    assert "not with arguments containing" in item.assertions[3].details["reasoning"]
    assert item.status == ItemStatus.FAILED
    recorded = item.transcript[-1].tool_calls
    assert recorded and recorded[0] == {
        "name": "get_weather",
        "arguments": {"city": "Paris", "days": [1, 2]},
    }


async def test_no_tool_called_checks_the_last_reply_or_the_transcript() -> None:
    item, _ = await _run(
        [
            {"type": "message", "content": "weather please"},
            {"type": "message", "content": "thanks"},
            {"type": "no_tool_called"},
            {"type": "no_tool_called", "scope": "transcript"},
            {"type": "no_tool_called", "tool": "book_flight", "scope": "transcript"},
            {"type": "tool_called", "tool": "get_weather", "scope": "transcript", "times": 2},
        ]
    )
    assert [check.passed for check in item.assertions] == [True, False, True, True]
    assert "get_weather" in item.assertions[1].details["reasoning"]


async def test_latency_ttft_bound_uses_the_measured_first_token() -> None:
    item, _ = await _run(
        [
            {"type": "message", "content": "hi"},
            {"type": "latency", "ttftMs": 50},
            {"type": "latency", "ttftMs": 30},
            {"type": "latency", "maxMs": 150, "ttftMs": 50},
            {"type": "latency", "maxMs": 50, "ttftMs": 50},
        ]
    )
    assert [check.passed for check in item.assertions] == [True, False, True, False]
    assert item.assertions[0].details["observedTtftMs"] == 40.0
    assert item.transcript[-1].ttft_ms == 40.0 and item.transcript[-1].chunks == 3


async def test_a_ttft_bound_fails_when_the_channel_measures_none() -> None:
    item, _ = await _run(
        [{"type": "message", "content": "hi"}, {"type": "latency", "ttftMs": 500}],
        responder=lambda turn: "plain reply",
    )
    (check,) = item.assertions
    assert not check.passed
    assert "no time to first token" in check.details["reasoning"]


async def test_turns_carry_one_conversation_id_a_turn_index_and_the_run_variables() -> None:
    engine, factory, _ = engine_with()
    test = make_test(
        steps=[{"type": "message", "content": "a"}, {"type": "message", "content": "b"}]
    )
    await engine.run(plan_of(test, test))
    requests = [r for t in factory.targets.values() for r in t.requests]
    assert [r.turn for r in requests] == [1, 2, 1, 2]
    ids = [r.conversation_id for r in requests]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


async def test_rate_limited_answers_and_backoff_are_reported_per_test() -> None:
    answers = iter([TargetError("slow down", retryable=True, retry_after=0.5, status=429), "fine"])

    def responder(turn: TurnRequest) -> Any:
        return next(answers)

    item, _ = await _run([{"type": "message", "content": "hi"}], responder=responder)
    assert item.status == ItemStatus.PASSED
    assert item.throttling is not None
    assert item.throttling.rate_limited == 1
    assert item.throttling.backoff_ms >= 500


async def test_answers_that_say_when_to_come_back_have_their_own_retry_budget() -> None:
    """Five 429s with Retry-After in a row are waited out although retries is 2; a bare 503
    (an outage, no Retry-After) still gives up after the ordinary budget."""
    limited = iter([TargetError("429", retryable=True, retry_after=0.1, status=429)] * 5 + ["fine"])
    item, _ = await _run([{"type": "message", "content": "hi"}], responder=lambda t: next(limited))
    assert item.status == ItemStatus.PASSED
    assert item.throttling is not None and item.throttling.rate_limited == 5

    item, _ = await _run(
        [{"type": "message", "content": "hi"}],
        responder=lambda t: TargetError("503", retryable=True, status=503),
    )
    assert item.status == ItemStatus.ERROR and "after 3 attempts" in (item.error or "")


async def test_the_judge_providers_429s_and_backoff_reach_the_run_summary() -> None:
    """An LLM judge whose provider answers 429 once: the run's judge summary counts it."""
    import json

    from lamdis_core.domain.results import Usage
    from lamdis_core.engine import Engine, RetryPolicy
    from lamdis_core.llm import CallPolicy, ChatMessage, Completion, LLMJudge, ProviderError
    from lamdis_core.testing.fakes import FakeClock, FakeRequester, FakeTargetFactory

    class Provider:
        provider = "fake"
        calls = 0

        async def complete(self, messages: list[ChatMessage], **kwargs: Any) -> Completion:
            Provider.calls += 1
            if Provider.calls == 1:
                raise ProviderError("busy", retryable=True, retry_after=0.01, status=429)
            verdict = {"score": 0.9, "pass": True, "reasoning": "fine"}
            return Completion(text=json.dumps(verdict), model="m", usage=Usage(calls=1))

        async def aclose(self) -> None: ...

    judge = LLMJudge(Provider(), model="m", policy=CallPolicy(retry=RetryPolicy(retries=2)))
    engine = Engine(
        targets={"http_chat": FakeTargetFactory(lambda turn: "ok")},
        judge=judge,
        requester=FakeRequester(),
        clock=FakeClock(),
        env={},
    )
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {"type": "assistant_check", "rubric": "Is polite."},
        ]
    )
    result = await engine.run(plan_of(test))
    assert result.items[0].status == ItemStatus.PASSED
    assert result.judge.rate_limited == 1
    assert result.judge.backoff_ms >= 10
