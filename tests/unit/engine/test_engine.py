"""The engine against fake targets, judges and requesters: every step type, iterative mode,
retries, errors, stop and concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import make_converter
from lamdis_core.domain.errors import JudgeError, RequestError, TargetError
from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import ItemStatus, RunStatus
from lamdis_core.engine import Engine, RetryPolicy
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.ports.requester import HttpCall, HttpResult
from lamdis_core.ports.target import TurnReply, TurnRequest
from lamdis_core.ratelimit import HostLimits
from lamdis_core.testing.fakes import (
    FakeClock,
    FakeRequester,
    FakeTarget,
    FakeTargetFactory,
    ScriptedJudge,
)

CONVERTER = make_converter()
ASSISTANT = c.Assistant(
    id="bot", env=c.AssistantEnv(base_url="http://bot.invalid", timeout_ms=1000)
)
PERSONAS = {"retail": c.Persona(id="retail", description="Anxious retail investor")}


def make_test(**fields: Any) -> c.TestCase:
    return CONVERTER.structure({"id": "t1", **fields}, c.TestCase)


def plan_of(*tests: c.TestCase, **entry_fields: Any) -> RunPlan:
    return RunPlan(
        entries=[
            PlanEntry(
                test=t,
                assistant=entry_fields.get("assistant", ASSISTANT),
                personas=PERSONAS,
                **{k: v for k, v in entry_fields.items() if k != "assistant"},
            )
            for t in tests
        ]
    )


def echo(turn: TurnRequest) -> str:
    return f"You said: {turn.message}. Investing involves risk."


def engine_with(
    responder: Any = echo, judge: Any = None, requester: Any = None, **kw: Any
) -> tuple[Engine, FakeTargetFactory, FakeClock]:
    factory = FakeTargetFactory(responder)
    clock = FakeClock()
    engine = Engine(
        targets={"http_chat": factory},
        judge=judge or ScriptedJudge([1.0]),
        requester=requester or FakeRequester(),
        clock=clock,
        retry=kw.pop("retry", RetryPolicy(retries=2, jitter=False)),
        env=kw.pop("env", {}),
    )
    return engine, factory, clock


async def test_message_steps_are_sent_in_order_with_transcript_and_persona() -> None:
    engine, factory, _ = engine_with()
    test = make_test(
        personaId="retail",
        script={"messages": [{"role": "user", "content": "first"}]},
        steps=[
            {"type": "message", "content": "second"},
            {"type": "message", "role": "system", "content": "be brief"},
            {"type": "message", "content": "third"},
        ],
    )
    result = await engine.run(plan_of(test))
    item = result.items[0]
    assert item.status is ItemStatus.PASSED
    sent = factory.targets["bot"].requests
    assert [r.message for r in sent] == ["first", "second", "third"]
    assert sent[1].transcript[-1]["content"].startswith("You said: first")
    assert sent[2].system == ["be brief"]
    assert sent[0].persona == "Anxious retail investor"
    assert item.message_counts.user == 3 and item.message_counts.assistant == 3
    assert len(item.timings.per_turn_ms) == 3


async def test_includes_and_not_includes_checks_report_missing_and_forbidden_terms() -> None:
    engine, _, _ = engine_with()
    test = make_test(
        steps=[
            {"type": "message", "content": "hello"},
            {"type": "includes", "includes": ["RISK", "hello", "bonds"]},
            {"type": "not_includes", "terms": ["guaranteed"]},
            {"type": "not_includes", "terms": ["invest"], "severity": "warn"},
        ]
    )
    item = (await engine.run(plan_of(test))).items[0]
    includes, clean, warned = item.assertions
    assert not includes.passed and includes.details["missing"] == ["bonds"]
    assert clean.passed
    assert not warned.passed and warned.severity == "warn"
    assert item.status is ItemStatus.FAILED
    assert item.first_failure is includes


async def test_warn_severity_failure_does_not_fail_the_test() -> None:
    engine, _, _ = engine_with()
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {"type": "includes", "includes": ["absent"], "severity": "warn"},
        ]
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert item.status is ItemStatus.PASSED
    assert not item.assertions[0].passed


async def test_regex_check_matches_negates_and_reports_bad_patterns_as_errors() -> None:
    engine, _, _ = engine_with()
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {"type": "regex", "pattern": "said:\\s+HI", "flags": "i"},
            {"type": "regex", "pattern": "guarantee", "negate": True},
            {"type": "regex", "pattern": "(unclosed"},
        ]
    )
    item = (await engine.run(plan_of(test))).items[0]
    ok, negated, broken = item.assertions
    assert ok.passed and negated.passed
    assert not broken.passed and "invalid pattern" in (broken.error or "")
    assert item.status is ItemStatus.ERROR


async def test_request_step_assigns_result_and_later_steps_interpolate_it() -> None:
    def route(call: HttpCall) -> Any:
        if call.method == "POST":
            return {"id": 1001, "status": "open", "echo": call.json}
        return {"id": int(call.url.rsplit("/", 1)[1]), "status": "open", "query": call.query}

    requester = FakeRequester(route)
    engine, factory, _ = engine_with(requester=requester)
    requests = {
        "create": c.RequestDef(
            id="create",
            transport=c.Transport(
                http=c.HttpSpec(
                    method="POST",
                    base_url="http://api.invalid",
                    path="/accounts",
                    body={"risk": "high"},
                )
            ),
        ),
        "get": c.RequestDef(
            id="get",
            transport=c.Transport(
                http=c.HttpSpec(method="GET", base_url="http://api.invalid", path="/accounts/{id}")
            ),
        ),
    }
    test = make_test(
        steps=[
            {"type": "request", "requestId": "create", "assign": "acct", "id": "made"},
            {"type": "message", "content": "Review account ${var.acct.id} please"},
            {
                "type": "request",
                "requestId": "get",
                "input": {"id": "${var.acct.id}", "verbose": True},
                "assign": "fetched",
            },
            {"type": "json_path", "source": "var.fetched", "path": "$.id", "equals": 1001},
            {
                "type": "json_path",
                "source": "steps.made.output",
                "path": "status",
                "matches": "^op",
            },
            {"type": "json_path", "source": "last.request", "path": "$.missing"},
        ]
    )
    item = (await engine.run(plan_of(test, requests=requests))).items[0]
    assert factory.targets["bot"].requests[0].message == "Review account 1001 please"
    post, get = requester.calls
    assert post.json == {"risk": "high"}
    assert get.url == "http://api.invalid/accounts/1001"
    assert get.query == {"verbose": "true"}
    equals, matches, missing = item.assertions
    assert equals.passed and matches.passed
    assert not missing.passed and "missing" in missing.details["reasoning"]
    assert item.status is ItemStatus.FAILED


async def test_request_step_non_2xx_is_an_error_item_naming_the_request() -> None:
    requester = FakeRequester(
        lambda call: HttpResult(status=503, headers={}, body={"error": "down"}, latency_ms=1)
    )
    engine, _, _ = engine_with(requester=requester)
    requests = {
        "r": c.RequestDef(
            id="r",
            transport=c.Transport(http=c.HttpSpec(method="POST", full_url="http://api.invalid/x")),
        )
    }
    test = make_test(
        steps=[
            {"type": "request", "requestId": "r", "assign": "x"},
            {"type": "message", "content": "hi"},
        ]
    )
    item = (await engine.run(plan_of(test, requests=requests))).items[0]
    assert item.status is ItemStatus.ERROR
    assert "request r" in (item.error or "") and "503" in (item.error or "")


async def test_request_connection_errors_are_retried_then_reported() -> None:
    attempts: list[int] = []

    def route(call: HttpCall) -> Any:
        attempts.append(1)
        return (
            RequestError("connection refused", retryable=True)
            if len(attempts) < 3
            else {"ok": True}
        )

    engine, _, clock = engine_with(requester=FakeRequester(route))
    requests = {
        "r": c.RequestDef(
            id="r",
            transport=c.Transport(http=c.HttpSpec(method="POST", full_url="http://api.invalid/x")),
        )
    }
    test = make_test(
        steps=[
            {"type": "request", "requestId": "r", "assign": "x"},
            {"type": "json_path", "source": "var.x", "path": "ok", "equals": True},
        ]
    )
    item = (await engine.run(plan_of(test, requests=requests))).items[0]
    assert item.status is ItemStatus.PASSED
    assert len(attempts) == 3 and len(clock.sleeps) == 2


async def test_latency_check_uses_last_turn_or_the_slowest() -> None:
    latencies = iter([50.0, 900.0, 100.0])
    engine, _, _ = engine_with(lambda turn: TurnReply(text="ok", latency_ms=next(latencies)))
    test = make_test(
        steps=[
            {"type": "message", "content": "a"},
            {"type": "message", "content": "b"},
            {"type": "message", "content": "c"},
            {"type": "latency", "maxMs": 500},
            {"type": "latency", "maxMs": 500, "scope": "transcript"},
        ]
    )
    item = (await engine.run(plan_of(test))).items[0]
    last, slowest = item.assertions
    assert last.passed and last.details["observedMs"] == 100.0
    assert not slowest.passed and slowest.details["observedMs"] == 900.0
    assert item.timings.max_ms == 900.0 and item.timings.p50_ms == 100.0


async def test_extract_step_puts_the_value_in_var() -> None:
    judge = ScriptedJudge([1.0], extractions={"acctId": "A-77"})
    engine, factory, _ = engine_with(judge=judge)
    test = make_test(
        steps=[
            {"type": "message", "content": "what is my account?"},
            {"type": "extract", "variableName": "acctId", "description": "the account id"},
            {"type": "message", "content": "Close ${var.acctId}"},
            {"type": "extract", "variableName": "nothing", "description": "absent"},
        ]
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert factory.targets["bot"].requests[1].message == "Close A-77"
    found, absent = item.assertions
    assert found.passed and found.details["value"] == "A-77"
    assert not absent.passed
    assert item.status is ItemStatus.FAILED


async def test_assistant_check_records_score_reasoning_and_usage() -> None:
    judge = ScriptedJudge([0.9, 0.4], tokens_per_call=100)
    engine, _, _ = engine_with(judge=judge)
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {
                "type": "assistant_check",
                "mode": "judge",
                "rubric": "mentions risk",
                "threshold": 0.8,
            },
            {
                "type": "assistant_check",
                "mode": "judge",
                "rubric": "is concise",
                "scope": "transcript",
                "name": "concise",
            },
        ]
    )
    result = await engine.run(plan_of(test))
    item = result.items[0]
    first, second = item.assertions
    assert first.passed and first.details["score"] == 0.9 and first.details["threshold"] == 0.8
    assert not second.passed and second.name == "concise"
    assert judge.requests[1].scope == "transcript"
    assert item.judge_score == pytest.approx(0.65)
    assert result.usage.tokens == 200 and result.usage.calls == 2
    assert item.status is ItemStatus.FAILED


async def test_a_judge_that_cannot_judge_makes_an_error_never_a_pass() -> None:
    engine, _, _ = engine_with(judge=ScriptedJudge([JudgeError("model returned prose")]))
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {"type": "assistant_check", "rubric": "anything"},
        ]
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert item.status is ItemStatus.ERROR
    assert not item.assertions[0].passed
    assert "model returned prose" in (item.error or "")


async def test_iterative_mode_stops_on_pass_after_min_turns() -> None:
    judge = ScriptedJudge(
        [0.2, 0.5, 0.9, 0.9], next_messages=["follow-up 1", "follow-up 2", "follow-up 3"]
    )
    engine, factory, _ = engine_with(judge=judge)
    test = make_test(
        objective="get a risk warning",
        script={"messages": [{"role": "user", "content": "opening"}]},
        judgeConfig={"rubric": "warns about risk", "threshold": 0.8},
        minTurns=1,
        maxTurns=8,
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert [r.message for r in factory.targets["bot"].requests] == [
        "opening",
        "follow-up 1",
        "follow-up 2",
    ]
    assert item.status is ItemStatus.PASSED
    (check,) = item.assertions
    assert check.subtype == "iterative" and check.details["turns"] == 3


async def test_iterative_mode_honours_min_turns_and_max_turns() -> None:
    engine, factory, _ = engine_with(judge=ScriptedJudge([0.9]))
    test = make_test(
        script={"messages": [{"role": "user", "content": "hi"}]},
        judgeConfig={"rubric": "r"},
        minTurns=3,
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert len(factory.targets["bot"].requests) == 3 and item.status is ItemStatus.PASSED

    engine, factory, _ = engine_with(judge=ScriptedJudge([0.1]))
    test = make_test(
        script={"messages": [{"role": "user", "content": "hi"}]},
        judgeConfig={"rubric": "r"},
        maxTurns=4,
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert len(factory.targets["bot"].requests) == 4 and item.status is ItemStatus.FAILED


async def test_iterative_mode_continue_after_pass_runs_to_max_turns() -> None:
    engine, factory, _ = engine_with(judge=ScriptedJudge([0.9]))
    test = make_test(
        script={"messages": [{"role": "user", "content": "hi"}]},
        judgeConfig={"rubric": "r"},
        maxTurns=3,
        continueAfterPass=True,
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert len(factory.targets["bot"].requests) == 3 and item.status is ItemStatus.PASSED


async def test_iterative_mode_opens_from_the_objective_when_there_is_no_script() -> None:
    judge = ScriptedJudge([0.9], opening="I want to buy a risky stock")
    engine, factory, _ = engine_with(judge=judge)
    test = make_test(objective="probe risk disclosure", personaId="retail")
    item = (await engine.run(plan_of(test))).items[0]
    assert factory.targets["bot"].requests[0].message == "I want to buy a risky stock"
    assert judge.requests[0].rubric == "probe risk disclosure"
    assert judge.requests[0].persona == "Anxious retail investor"
    assert item.status is ItemStatus.PASSED


async def test_iterative_without_rubric_or_objective_is_an_error() -> None:
    engine, _, _ = engine_with()
    item = (
        await engine.run(
            plan_of(make_test(script={"messages": [{"role": "user", "content": "hi"}]}))
        )
    ).items[0]
    assert item.status is ItemStatus.ERROR and "objective" in (item.error or "")


async def test_retryable_target_errors_are_retried_with_retry_after() -> None:
    calls: list[int] = []

    def flaky(turn: TurnRequest) -> Any:
        calls.append(1)
        if len(calls) == 1:
            return TargetError("HTTP 429", retryable=True, retry_after=1.5, status=429)
        if len(calls) == 2:
            return TargetError("HTTP 503", retryable=True, status=503)
        return "fine"

    engine, _, clock = engine_with(flaky)
    item = (
        await engine.run(plan_of(make_test(steps=[{"type": "message", "content": "hi"}])))
    ).items[0]
    assert item.status is ItemStatus.PASSED
    assert clock.sleeps == [1.5, 0.5]
    assert any("retrying" in line for line in item.artifacts.log)


async def test_a_target_that_keeps_failing_is_an_error_item_and_the_run_goes_on() -> None:
    def responder(turn: TurnRequest) -> Any:
        if "broken" in turn.message:
            return TargetError("HTTP 502", retryable=True, status=502)
        return "ok"

    engine, _, _ = engine_with(responder)
    bad = make_test(id="bad", steps=[{"type": "message", "content": "broken"}])
    good = make_test(id="good", steps=[{"type": "message", "content": "fine"}])
    result = await engine.run(plan_of(bad, good))
    statuses = {i.test_id: i.status for i in result.items}
    assert statuses == {"bad": ItemStatus.ERROR, "good": ItemStatus.PASSED}
    assert "after 3 attempts" in (result.items[0].error or "")
    assert result.status is RunStatus.FAILED and result.totals.errors == 1


async def test_non_retryable_errors_are_not_retried() -> None:
    engine, factory, clock = engine_with(lambda turn: TargetError("HTTP 500", status=500))
    item = (
        await engine.run(plan_of(make_test(steps=[{"type": "message", "content": "x"}])))
    ).items[0]
    assert item.status is ItemStatus.ERROR and clock.sleeps == []
    assert len(factory.targets["bot"].requests) == 1


async def test_a_turn_that_hangs_times_out_per_turn() -> None:
    async def hang(turn: TurnRequest) -> str:
        await asyncio.sleep(30)
        return "late"

    assistant = c.Assistant(
        id="slow", env=c.AssistantEnv(base_url="http://x.invalid", timeout_ms=50)
    )
    engine, _, _ = engine_with(hang, retry=RetryPolicy(retries=0))
    item = (
        await engine.run(
            plan_of(make_test(steps=[{"type": "message", "content": "x"}]), assistant=assistant)
        )
    ).items[0]
    assert item.status is ItemStatus.ERROR and "50 ms" in (item.error or "")


async def test_tests_run_concurrently_up_to_the_limit_and_turns_stay_in_order() -> None:
    in_flight = 0
    peak = 0
    order: dict[str, list[str]] = {}

    async def responder(turn: TurnRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        test_id, n = turn.message.split(":")
        order.setdefault(test_id, []).append(n)
        return "ok"

    engine, _, _ = engine_with(responder)
    tests = [
        make_test(id=f"t{i}", steps=[{"type": "message", "content": f"t{i}:{n}"} for n in range(3)])
        for i in range(10)
    ]
    result = await engine.run(plan_of(*tests), concurrency=4)
    assert peak == 4
    assert all(turns == ["0", "1", "2"] for turns in order.values())
    assert [i.test_id for i in result.items] == [f"t{i}" for i in range(10)]


async def test_repeat_runs_each_test_n_times() -> None:
    engine, _, _ = engine_with()
    result = await engine.run(
        plan_of(make_test(steps=[{"type": "message", "content": "x"}])), repeat=3
    )
    assert [i.repeat for i in result.items] == [0, 1, 2]


async def test_stop_skips_remaining_tests_and_marks_the_run_stopped() -> None:
    stop = asyncio.Event()

    async def responder(turn: TurnRequest) -> str:
        if turn.message == "t0:1":
            stop.set()
        await asyncio.sleep(0)
        return "ok"

    engine, factory, _ = engine_with(responder)
    tests = [
        make_test(id=f"t{i}", steps=[{"type": "message", "content": f"t{i}:{n}"} for n in range(3)])
        for i in range(3)
    ]
    result = await engine.run(plan_of(*tests), concurrency=1, stop=stop)
    assert result.status is RunStatus.STOPPED and result.stopped
    assert all(i.status is ItemStatus.SKIPPED for i in result.items)
    assert len(factory.targets["bot"].requests) == 2  # stopped within one turn
    assert result.totals.skipped == 3


async def test_disabled_tests_are_reported_skipped_and_the_run_is_partial() -> None:
    engine, _, _ = engine_with()
    result = await engine.run(
        plan_of(
            make_test(steps=[{"type": "message", "content": "x"}]),
            make_test(id="off", enabled=False),
        )
    )
    assert [i.status for i in result.items] == [ItemStatus.PASSED, ItemStatus.SKIPPED]
    assert result.status is RunStatus.PARTIAL


async def test_unknown_channel_is_an_error_item_naming_the_installed_channels() -> None:
    assistant = c.Assistant(id="gpt", env=c.AssistantEnv(channel="openai_chat"))
    engine, _, _ = engine_with()
    item = (
        await engine.run(
            plan_of(make_test(steps=[{"type": "message", "content": "x"}]), assistant=assistant)
        )
    ).items[0]
    assert item.status is ItemStatus.ERROR
    assert "openai_chat" in (item.error or "") and "http_chat" in (item.error or "")


async def test_cancelling_the_run_reports_finished_items_to_the_observer() -> None:
    finished: list[str] = []
    first_done = asyncio.Event()

    class Observer:
        async def item_started(self, entry: PlanEntry, repeat: int) -> None: ...
        async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None: ...
        async def item_finished(self, item: Any) -> None:
            finished.append(item.test_id)
            first_done.set()

    async def responder(turn: TurnRequest) -> str:
        if turn.message.startswith("slow"):
            await asyncio.sleep(30)
        return "ok"

    engine, factory, _ = engine_with(responder)
    tests = [
        make_test(id="fast", steps=[{"type": "message", "content": "fast"}]),
        make_test(id="slow", steps=[{"type": "message", "content": "slow"}]),
    ]
    task = asyncio.create_task(engine.run(plan_of(*tests), observer=Observer()))
    await asyncio.wait_for(first_done.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == ["fast"]
    assert factory.targets["bot"].closed


async def test_pattern_auth_headers_reach_the_target_and_named_values_fill_assistant_headers() -> (
    None
):
    auth = c.PatternAuth(
        id="a",
        env={"AUTH_TOKEN": "${TOKEN_VAR}", "KEY": "${KEY_VAR}"},
        pattern=c.AuthPattern(template="Bearer ${AUTH_TOKEN}"),
    )
    assistant = c.Assistant(
        id="bot", auth=c.AuthRef(auth_ref="auth/a"), env=c.AssistantEnv(base_url="http://x.invalid")
    )
    engine, factory, _ = engine_with(env={"TOKEN_VAR": "s3cret", "KEY_VAR": "k"})
    await engine.run(
        plan_of(
            make_test(steps=[{"type": "message", "content": "x"}]),
            assistant=assistant,
            auths={"auth/a": auth},
        )
    )
    assert await factory.auth_headers["bot"]() == {"Authorization": "Bearer s3cret"}
    assert factory.envs["bot"]["KEY"] == "k"


async def test_oauth_token_is_fetched_once_and_cached_across_tests() -> None:
    def route(call: HttpCall) -> Any:
        if call.url.endswith("/token"):
            assert call.form is not None and call.form["grant_type"] == "client_credentials"
            return {"access_token": "tok-1", "expires_in": 3600}
        return {"authorized": call.headers.get("Authorization")}

    requester = FakeRequester(route)
    engine, _, _ = engine_with(requester=requester, env={"SECRET": "shh"})
    oauth = c.OAuthClientCredentials(
        id="o",
        client_id="cid",
        client_secret="${SECRET}",
        token_url="http://auth.invalid/token",
        scopes=["a", "b"],
    )
    requests = {
        "me": c.RequestDef(
            id="me",
            auth=c.AuthRef(auth_ref="auth/o"),
            transport=c.Transport(http=c.HttpSpec(method="POST", full_url="http://api.invalid/me")),
        )
    }
    tests = [
        make_test(
            id=f"t{i}",
            steps=[
                {"type": "request", "requestId": "me", "assign": "me"},
                {
                    "type": "json_path",
                    "source": "var.me",
                    "path": "authorized",
                    "equals": "Bearer tok-1",
                },
            ],
        )
        for i in range(3)
    ]
    result = await engine.run(plan_of(*tests, requests=requests, auths={"auth/o": oauth}))
    assert result.status is RunStatus.PASSED
    token_calls = [call for call in requester.calls if call.url.endswith("/token")]
    assert len(token_calls) == 1 and token_calls[0].form["scope"] == "a b"  # type: ignore[index]


async def test_missing_auth_env_var_is_an_error_item_naming_the_variable() -> None:
    auth = c.StaticAuth(id="s", headers={"x-key": "${NOT_SET_ANYWHERE}"})
    requests = {
        "r": c.RequestDef(
            id="r",
            auth_ref="auth/s",
            transport=c.Transport(http=c.HttpSpec(method="POST", full_url="http://api.invalid/x")),
        )
    }
    engine, _, _ = engine_with(requester=FakeRequester(lambda call: {}))
    item = (
        await engine.run(
            plan_of(
                make_test(steps=[{"type": "request", "requestId": "r"}]),
                requests=requests,
                auths={"auth/s": auth},
            )
        )
    ).items[0]
    assert item.status is ItemStatus.ERROR and "NOT_SET_ANYWHERE" in (item.error or "")


async def test_long_replies_are_trimmed_in_the_stored_transcript() -> None:
    engine, _, _ = engine_with(lambda turn: "x" * 10_000)
    item = (
        await engine.run(plan_of(make_test(steps=[{"type": "message", "content": "x"}])))
    ).items[0]
    assert len(item.transcript[1].content) < 4100 and "trimmed" in item.transcript[1].content


async def test_offline_judge_reasoning_says_it_is_a_heuristic_and_summary_flags_it() -> None:
    engine, _, _ = engine_with(judge=OfflineJudge())
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {
                "type": "assistant_check",
                "rubric": "warns that investing involves risk",
                "threshold": 0.5,
            },
        ]
    )
    result = await engine.run(plan_of(test))
    check = result.items[0].assertions[0]
    assert check.passed and "no LLM" in check.details["reasoning"]
    assert result.judge.offline and result.judge.provider == "offline"


async def test_oauth_cache_ttl_caps_the_servers_expiry() -> None:
    from lamdis_core.engine._auth import AuthResolver

    tokens = iter(["tok-1", "tok-2"])
    requester = FakeRequester(lambda call: {"access_token": next(tokens), "expires_in": 3600})
    clock = FakeClock()
    resolver = AuthResolver(requester, {}, clock)
    oauth = c.OAuthClientCredentials(
        id="o",
        client_id="cid",
        client_secret="s",
        token_url="http://auth.invalid/token",
        cache_ttl_seconds=300,
    )
    assert await resolver.headers(oauth) == {"Authorization": "Bearer tok-1"}
    clock.advance(200)
    assert await resolver.headers(oauth) == {"Authorization": "Bearer tok-1"}
    clock.advance(100)  # past cacheTtlSeconds less the refresh margin
    assert await resolver.headers(oauth) == {"Authorization": "Bearer tok-2"}
    assert len(requester.calls) == 2


async def test_a_retry_after_longer_than_the_policy_accepts_is_not_waited_for() -> None:
    engine, _, clock = engine_with(
        lambda turn: TargetError("HTTP 429", retryable=True, retry_after=3600, status=429)
    )
    item = (
        await engine.run(plan_of(make_test(steps=[{"type": "message", "content": "x"}])))
    ).items[0]
    assert item.status is ItemStatus.ERROR
    assert "asked to wait 3600 s" in (item.error or "")
    assert clock.sleeps == []


async def test_a_message_or_rubric_that_is_one_reference_reads_as_json_text() -> None:
    def route(call: HttpCall) -> Any:
        return {"ok": True, "acct": {"id": 5}, "none": None}

    judge = ScriptedJudge([1.0])
    engine, factory, _ = engine_with(requester=FakeRequester(route), judge=judge)
    requests = {
        "r": c.RequestDef(
            id="r", transport=c.Transport(http=c.HttpSpec(method="GET", base_url="http://x"))
        )
    }
    test = make_test(
        steps=[
            {"type": "request", "requestId": "r", "assign": "res"},
            {"type": "message", "content": "${var.res.ok}"},
            {"type": "message", "content": "${var.res.acct}"},
            {"type": "message", "content": "[${var.res.acct}]"},
            {"type": "message", "role": "system", "content": "${var.res.none}"},
            {"type": "assistant_check", "rubric": "${var.res.ok}"},
        ]
    )
    await engine.run(plan_of(test, requests=requests))
    sent = factory.targets["bot"].requests
    assert [r.message for r in sent] == ["true", '{"id":5}', '[{"id":5}]']
    assert judge.requests[0].rubric == "true"


async def test_repeat_schedules_lazily_with_tasks_bounded_by_concurrency() -> None:
    """--repeat hands work to ``concurrency`` workers: the tasks alive during a run do not grow
    with the repeat count (one task per test x repeat made --repeat 1000000 take gigabytes)."""
    peak_tasks = 0

    async def responder(turn: TurnRequest) -> str:
        nonlocal peak_tasks
        peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return "ok"

    engine, _, _ = engine_with(responder)
    tests = [make_test(id=f"t{i}", steps=[{"type": "message", "content": "x"}]) for i in range(3)]
    result = await engine.run(plan_of(*tests), concurrency=4, repeat=500)
    assert len(result.items) == 1500
    # the test's own task, the run and its four workers (nothing per test x repeat)
    assert peak_tasks <= 4 + 3, peak_tasks
    assert [(i.test_id, i.repeat) for i in result.items] == [
        (f"t{t}", r) for t in range(3) for r in range(500)
    ]


async def test_cancelling_a_huge_repeat_returns_at_once() -> None:
    """Cancelling a run with a large repeat count cancels a handful of workers, not one task
    per pending run: the run ends within the first loop iterations."""
    started = asyncio.Event()

    async def responder(turn: TurnRequest) -> str:
        started.set()
        await asyncio.sleep(30)
        return "ok"

    engine, _, _ = engine_with(responder)
    task = asyncio.create_task(
        engine.run(plan_of(make_test(steps=[{"type": "message", "content": "x"}])), repeat=10**9)
    )
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)


async def test_any_adapter_exception_is_that_tests_error_and_the_run_goes_on() -> None:
    def responder(turn: TurnRequest) -> Any:
        if "target" in turn.message:
            return RecursionError("maximum recursion depth exceeded")
        return "fine"

    class BrokenJudge(ScriptedJudge):
        async def evaluate(self, request: Any) -> Any:
            raise KeyError("choices")

    def route(call: HttpCall) -> Any:
        return OSError("socket went away")

    engine, _, _ = engine_with(responder, judge=BrokenJudge([1.0]), requester=FakeRequester(route))
    requests = {
        "r": c.RequestDef(
            id="r", transport=c.Transport(http=c.HttpSpec(method="GET", base_url="http://x"))
        )
    }
    tests = [
        make_test(id="target", steps=[{"type": "message", "content": "target"}]),
        make_test(
            id="judge",
            steps=[
                {"type": "message", "content": "hi"},
                {"type": "assistant_check", "rubric": "polite"},
            ],
        ),
        make_test(id="requester", steps=[{"type": "request", "requestId": "r"}]),
        make_test(
            id="ok",
            steps=[
                {"type": "message", "content": "hi"},
                {"type": "includes", "includes": ["fine"]},
            ],
        ),
    ]
    result = await engine.run(plan_of(*tests, requests=requests), concurrency=4)
    items = {item.test_id: item for item in result.items}
    assert items["ok"].status is ItemStatus.PASSED
    assert items["target"].status is ItemStatus.ERROR
    assert items["target"].error == "RecursionError: maximum recursion depth exceeded"
    assert items["judge"].status is ItemStatus.ERROR
    assert items["judge"].error == "KeyError: 'choices'"
    assert items["requester"].status is ItemStatus.ERROR
    assert items["requester"].error == "OSError: socket went away"
    assert result.totals.errors == 3 and result.totals.passed == 1


async def test_a_target_factory_that_raises_makes_error_items_only() -> None:
    class ExplodingFactory(FakeTargetFactory):
        def create(self, assistant: Any, auth_headers: Any, env: Any) -> Any:
            if assistant.id == "broken":
                raise LookupError("no such channel option")
            return super().create(assistant, auth_headers, env)

    factory = ExplodingFactory(echo)
    engine = Engine(
        targets={"http_chat": factory},
        judge=ScriptedJudge([1.0]),
        requester=FakeRequester(),
        clock=FakeClock(),
        env={},
    )
    broken = c.Assistant(id="broken", env=c.AssistantEnv(base_url="http://x", timeout_ms=1000))
    test = make_test(steps=[{"type": "message", "content": "hi"}])
    plan = RunPlan(
        entries=[
            PlanEntry(test=test, assistant=broken),
            PlanEntry(test=test, assistant=ASSISTANT),
        ]
    )
    result = await engine.run(plan)
    first, second = result.items
    assert first.status is ItemStatus.ERROR
    assert first.error == "cannot reach assistant broken: LookupError: no such channel option"
    assert second.status is ItemStatus.PASSED


@pytest.mark.parametrize(
    ("actual", "expected", "passes"),
    [
        (True, 1, False),
        (False, 0, False),
        (1, True, False),
        ([True], [1], False),
        ({"a": False}, {"a": 0}, False),
        (None, False, False),
        ("1", 1, False),
        (1, 1.0, True),
        ([True, {"a": [1, "x"]}], [True, {"a": [1, "x"]}], True),
        (False, False, True),
    ],
)
async def test_json_path_equals_is_type_exact(actual: Any, expected: Any, passes: bool) -> None:
    engine, _, _ = engine_with(requester=FakeRequester(lambda call: {"v": actual}))
    requests = {
        "r": c.RequestDef(
            id="r", transport=c.Transport(http=c.HttpSpec(method="GET", base_url="http://x"))
        )
    }
    test = make_test(
        steps=[
            {"type": "request", "requestId": "r", "assign": "res"},
            {"type": "json_path", "source": "var.res", "path": "$.v", "equals": expected},
        ]
    )
    item = (await engine.run(plan_of(test, requests=requests))).items[0]
    assert item.assertions[0].passed is passes


async def test_scripted_user_messages_count_toward_max_turns() -> None:
    judge = ScriptedJudge([0.2])
    engine, factory, _ = engine_with(judge=judge)
    test = make_test(
        objective="stay polite",
        maxTurns=2,
        script={"messages": [{"role": "user", "content": f"m{i}"} for i in range(4)]},
    )
    item = (await engine.run(plan_of(test))).items[0]
    assert [r.message for r in factory.targets["bot"].requests] == ["m0", "m1"]
    assert len(judge.requests) == 1 and not judge.requests[0].propose_next
    assert item.assertions[-1].details["turns"] == 2
    assert "maxTurns (2) reached; 2 scripted user message(s) not sent" in item.artifacts.log


class _BlockingClock(FakeClock):
    """A clock whose sleeps last until cancelled; ``sleeping`` is set once one starts."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        await asyncio.Event().wait()


@pytest.mark.parametrize("kind", ["turn", "request"])
async def test_a_stop_during_retry_back_off_makes_no_further_call(kind: str) -> None:
    """The retry waits; a stop that arrives meanwhile ends the test with no other call."""
    clock = _BlockingClock()
    calls: list[str] = []

    def responder(turn: TurnRequest) -> Any:
        calls.append("turn")
        return TargetError("busy", retryable=True)

    def route(call: HttpCall) -> Any:
        calls.append("request")
        return RequestError("connection reset", retryable=True)

    engine = Engine(
        targets={"http_chat": FakeTargetFactory(responder)},
        judge=ScriptedJudge([1.0]),
        requester=FakeRequester(route),
        clock=clock,
        retry=RetryPolicy(retries=3, jitter=False),
        env={},
    )
    requests = {
        "r": c.RequestDef(
            id="r", transport=c.Transport(http=c.HttpSpec(method="GET", base_url="http://x"))
        )
    }
    step = (
        {"type": "message", "content": "hi"}
        if kind == "turn"
        else {"type": "request", "requestId": "r"}
    )
    stop = asyncio.Event()
    run = asyncio.ensure_future(
        engine.run(plan_of(make_test(steps=[step]), requests=requests), stop=stop)
    )
    await asyncio.wait_for(clock.sleeping.wait(), 5)
    stop.set()
    result = await asyncio.wait_for(run, 5)
    assert calls == [kind]
    assert result.stopped
    assert result.items[0].status is ItemStatus.SKIPPED


async def test_a_target_whose_end_conversation_raises_does_not_end_the_run() -> None:
    class Forgetful(FakeTarget):
        async def end_conversation(self, conversation_id: str) -> None:
            raise RuntimeError("session store is down")

    class Factory(FakeTargetFactory):
        def create(self, assistant: Any, auth_headers: Any, env: Any) -> Any:
            target = Forgetful(self.responder, timeout_s=assistant.env.timeout_ms / 1000)
            self.targets[assistant.id] = target
            return target

    engine = Engine(
        targets={"http_chat": Factory(echo)},
        judge=ScriptedJudge([1.0]),
        requester=FakeRequester(),
        clock=FakeClock(),
        env={},
    )
    tests = [make_test(id=f"t{i}", steps=[{"type": "message", "content": "hi"}]) for i in range(3)]
    result = await engine.run(plan_of(*tests))
    assert [item.status for item in result.items] == [ItemStatus.PASSED] * 3
    log = result.items[0].artifacts.log
    assert "could not end the conversation: RuntimeError: session store is down" in log


async def test_a_hosts_limit_made_during_a_run_starts_at_the_runs_concurrency() -> None:
    limits = HostLimits()  # what a target factory holds; its hosts' limits are made on first call
    first: list[float] = []

    def responder(turn: TurnRequest) -> str:
        first.append(limits.for_host("http://bot.invalid:80").limit)
        return "ok"

    engine, _, _ = engine_with(responder)
    tests = [make_test(id=f"t{i}", steps=[{"type": "message", "content": "hi"}]) for i in range(3)]
    await engine.run(plan_of(*tests), concurrency=12)
    assert first == [12.0, 12.0, 12.0]
