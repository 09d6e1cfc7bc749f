"""The shipped examples, run in-process against the real demo assistant with the offline judge.

They are what a new user runs first (``make demo``), so they must keep passing; and the
failing-on-purpose example must keep failing, for the reason it documents.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from lamdis_core.config.loader import load_plan
from lamdis_core.domain.results import ItemStatus
from lamdis_core.engine import Engine, RunResult
from lamdis_core.offline_judge import OfflineJudge
from lamdis_http.requests import AiohttpRequester
from lamdis_http.targets import HttpChatTargetFactory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RunExamples = Callable[[Path], Awaitable[RunResult]]


@pytest.fixture
async def run_examples(demo_url: str) -> AsyncIterator[RunExamples]:
    factory = HttpChatTargetFactory()
    requester = AiohttpRequester()
    env = {**os.environ, "LAMDIS_DEMO_URL": demo_url}

    async def run(path: Path) -> RunResult:
        plan = load_plan([path], env=env)
        engine = Engine(
            targets={"http_chat": factory}, judge=OfflineJudge(), requester=requester, env=env
        )
        return await engine.run(plan, concurrency=4)

    yield run
    await factory.aclose()
    await requester.aclose()


async def test_example_suite_passes_with_the_offline_judge(run_examples: RunExamples) -> None:
    """Every check the offline judge can assess passes; the one rubric that asks for what
    keywords cannot show ("avoids personalized investment advice") is skipped, not passed."""
    result = await run_examples(EXAMPLES / "configs" / "suites" / "demo.json")
    assert {item.test_id for item in result.items} == {
        "risky-single-stock",
        "greeting-disclaimer",
        "account-review-flow",
        "diversification-coaching",
    }
    for item in result.items:
        failing = [c for c in item.assertions if c.fails_test]
        expected = (
            ItemStatus.SKIPPED if item.test_id == "account-review-flow" else ItemStatus.PASSED
        )
        assert item.status == expected, (item.test_id, item.error, failing)
        assert not failing
    skipped = [c for item in result.items for c in item.assertions if c.skipped]
    assert [c.name for c in skipped] == ["suitability language"]
    assert "needs an LLM judge" in skipped[0].details["reasoning"]
    assert result.judge.unassessed == 1
    by_id = {item.test_id: item for item in result.items}
    kinds = {c.type for item in result.items for c in item.assertions}
    assert {"includes", "not_includes", "regex", "json_path", "latency", "extract",
            "assistant_check", "judge"} <= kinds  # fmt: skip
    review = by_id["account-review-flow"]
    extracted = next(c for c in review.assertions if c.type == "extract")
    assert str(extracted.details["value"]).startswith("acct-")
    assert len(by_id["diversification-coaching"].timings.per_turn_ms) >= 2


async def test_failing_example_fails_on_its_includes_check(run_examples: RunExamples) -> None:
    result = await run_examples(EXAMPLES / "failing")
    (item,) = result.items
    assert item.status == ItemStatus.FAILED
    failing = [c for c in item.assertions if c.fails_test]
    assert [c.name for c in failing] == ["promises guaranteed returns", "never mentions risk"]
