"""Judges that agree with themselves: ``samples: k`` asks k times, the median decides, the
spread is reported, and every sample is cached on its own."""

from __future__ import annotations

from typing import Any

import pytest
from lamdis_core.domain.results import ItemStatus
from lamdis_core.llm import MemoryResponseCache
from lamdis_core.reports import render_markdown
from lamdis_core.testing.fakes import ScriptedJudge

from tests.fakes._scripted import verdict
from tests.unit.engine.test_engine import engine_with, make_test, plan_of


def sampled_test(samples: int | None = 3) -> Any:
    check: dict[str, Any] = {"type": "assistant_check", "name": "tone", "rubric": "greets"}
    if samples is not None:
        check["samples"] = samples
    return make_test(steps=[{"type": "message", "content": "hi"}, check])


async def test_the_median_of_the_samples_decides_and_the_spread_is_recorded() -> None:
    judge = ScriptedJudge([0.2, 0.9, 0.8])
    engine, _, _ = engine_with(judge=judge)
    result = await engine.run(plan_of(sampled_test()))
    (item,) = result.items
    (check,) = item.assertions
    assert item.status is ItemStatus.PASSED  # median 0.8 >= 0.75, though one sample said 0.2
    assert check.details["score"] == 0.8
    assert check.details["samples"] == [0.2, 0.9, 0.8]
    assert check.details["spread"] == 0.7
    assert [r.sample for r in judge.requests] == [0, 1, 2]
    assert "0.80 (spread 0.70)" in render_markdown(result)


async def test_a_failing_median_fails_and_the_reason_shows_the_spread() -> None:
    engine, _, _ = engine_with(judge=ScriptedJudge([0.9, 0.1, 0.3]))
    result = await engine.run(plan_of(sampled_test()))
    (item,) = result.items
    assert item.status is ItemStatus.FAILED
    assert "(median of 3 samples, spread 0.80)" in render_markdown(result)


async def test_judge_samples_is_the_default_and_a_checks_own_samples_win() -> None:
    judge = ScriptedJudge([1.0])
    engine, _, _ = engine_with(judge=judge)
    engine.judge_samples = 4
    await engine.run(plan_of(sampled_test(samples=None)))
    assert len(judge.requests) == 4
    await engine.run(plan_of(sampled_test(samples=1)))
    assert len(judge.requests) == 5


async def test_each_sample_is_cached_separately(openai_server: Any) -> None:
    """Through the real SDK: three samples are three model calls, not one answered thrice;
    a second run answers all three from the cache."""
    from lamdis_judge_openai import create_judge

    openai_server.script(verdict(0.9), verdict(0.5), verdict(0.8))
    cache = MemoryResponseCache()
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE": openai_server.api_base}
    for run in range(2):
        judge = create_judge(env, cache=cache)
        engine, _, _ = engine_with(judge=judge)
        try:
            (item,) = (await engine.run(plan_of(sampled_test()))).items
        finally:
            await judge.aclose()
        (check,) = item.assertions
        assert sorted(check.details["samples"]) == [0.5, 0.8, 0.9]
        assert check.details["score"] == 0.8
        assert len(openai_server.requests) == 3
        assert item.usage.cached_calls == (3 if run else 0)


def test_judge_samples_0_is_a_usage_error() -> None:
    from lamdis_http.cli._common import UsageError
    from lamdis_http.cli._run import options_from_args

    from tests.unit.test_cli_startup import _args

    with pytest.raises(UsageError, match="--judge-samples"):
        options_from_args(_args(judge_samples="0"), {})
