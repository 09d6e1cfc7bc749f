"""Re-judging recorded runs in the core: what is asked again, what is kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lamdis_core.domain.errors import JudgeError
from lamdis_core.domain.results import Item, ItemStatus, RunStatus
from lamdis_core.rejudge import (
    SummaryFormatError,
    parse_overrides,
    read_summary,
    rejudge,
    unknown_override_targets,
)
from lamdis_core.reports import render_json
from lamdis_core.testing.fakes import ScriptedJudge

from tests.unit.engine.test_engine import engine_with, make_test, plan_of


async def _recorded(judge: ScriptedJudge, *tests: Any) -> list[Item]:
    engine, _, _ = engine_with(judge=judge)
    result = await engine.run(plan_of(*tests))
    items, _ = read_summary(json.loads(render_json(result)))
    return items


def stepped() -> Any:
    return make_test(
        id="stepped",
        steps=[
            {"type": "message", "content": "first"},
            {"type": "assistant_check", "name": "early", "rubric": "r1"},
            {"type": "message", "content": "second"},
            {"type": "includes", "includes": ["risk"]},
        ],
    )


async def test_a_check_sees_the_transcript_it_saw_when_it_was_judged() -> None:
    items = await _recorded(ScriptedJudge([0.9]), stepped())
    again = ScriptedJudge([0.2])
    result = await rejudge(items, again)
    (request,) = again.requests
    assert [t.content for t in request.transcript][-1].startswith("You said: first")
    assert len(request.transcript) == 2  # the check ran after the first turn
    (item,) = result.items
    assert item.status is ItemStatus.FAILED and result.status is RunStatus.FAILED
    early, includes = item.assertions
    assert early.details["previous"] == {"pass": True, "score": 0.9, "model": "scripted"}
    assert includes.passed and includes.type == "includes"  # kept as recorded


async def test_a_check_the_judge_could_not_evaluate_can_be_rejudged() -> None:
    items = await _recorded(ScriptedJudge([JudgeError("model down")]), stepped())
    assert items[0].status is ItemStatus.ERROR
    result = await rejudge(items, ScriptedJudge([0.95]))
    assert result.items[0].status is ItemStatus.PASSED


async def test_an_iterative_verdict_is_rejudged_with_an_override_by_judgeconfig() -> None:
    test = make_test(
        id="iter",
        script={"messages": [{"role": "user", "content": "hi"}]},
        judgeConfig={"rubric": "old rubric", "threshold": 0.5},
    )
    items = await _recorded(ScriptedJudge([0.9]), test)
    overrides = parse_overrides({"iter": {"judgeConfig": "new rubric"}}, source="o.json")
    assert unknown_override_targets(items, overrides) == []
    again = ScriptedJudge([0.1])
    result = await rejudge(items, again, overrides=overrides)
    assert again.requests[0].rubric == "new rubric"
    assert result.items[0].status is ItemStatus.FAILED


def test_a_newer_summary_a_foreign_item_and_a_bad_override_are_refused() -> None:
    with pytest.raises(SummaryFormatError, match="newer than this lamdis reads"):
        read_summary({"schemaVersion": 2, "items": []})
    with pytest.raises(SummaryFormatError, match=r"items\[0\] is not a lamdis item"):
        read_summary({"schemaVersion": 1, "items": [{"status": "weird"}]})
    with pytest.raises(SummaryFormatError, match="threshold must be a number between 0 and 1"):
        parse_overrides({"t": {"c": {"threshold": 3}}}, source="o.json")
