"""Prices, costs and the run budget (the engine's side; the CLI's is in tests/e2e)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.errors import ConfigError
from lamdis_core.domain.results import ItemStatus, RunStatus, Usage
from lamdis_core.pricing import Budget, PriceTable, format_cost

from tests.unit.engine.test_engine import engine_with, make_test, plan_of


def test_every_packaged_price_says_when_and_where_it_comes_from() -> None:
    table = PriceTable.default()
    assert {"openai:gpt-4o-mini", "bedrock:anthropic.claude-3-haiku-20240307-v1:0"} <= set(
        table.prices
    )
    for name, price in table.prices.items():
        assert price.as_of and price.source and price.source.startswith("https://"), name


def test_a_dated_snapshot_falls_back_to_its_model() -> None:
    table = PriceTable.default()
    assert table.lookup("openai:gpt-4o-mini-2024-07-18") == table.prices["openai:gpt-4o-mini"]
    assert table.lookup("openai:no-such-model") is None


def test_usage_is_priced_per_token_and_unknown_is_never_zero() -> None:
    table = PriceTable.default()
    usage = Usage(calls=1, tokens=1_500_000, prompt_tokens=1_000_000, completion_tokens=500_000)
    priced = table.price("openai:gpt-4o-mini", usage)
    assert priced.cost_usd == pytest.approx(0.15 + 0.30)
    unknown = table.price("openai:mystery", usage)
    assert unknown.cost_usd is None and unknown.unpriced == ["openai:mystery"]
    total = Usage()
    total.add(priced)
    total.add(unknown)
    assert total.cost_usd is None and format_cost(total).startswith("unknown")
    # Written out as null, not left out (a missing field would read as "free").
    assert default_converter().unstructure(total)["costUsd"] is None


def test_a_call_without_reported_usage_has_an_unknown_cost() -> None:
    priced = PriceTable.default().price("openai:gpt-4o-mini", Usage(calls=1))
    assert priced.cost_usd is None


def test_a_user_table_overrides_and_adds(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"models": {"openai:gpt-4o-mini": {"input": 1, "output": 2}}}), encoding="utf-8"
    )
    table = PriceTable.load(str(path))
    assert table.prices["openai:gpt-4o-mini"].input == 1
    assert "bedrock:anthropic.claude-3-haiku-20240307-v1:0" in table.prices


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"gpt-4o": {"input": 1, "output": 1}}, "unknown model 'gpt-4o'"),
        ({"acme:x": {"input": 1, "output": 1}}, "unknown model 'acme:x'"),
        ({"openai:x": {"input": -0.1, "output": 1}}, "'openai:x': input must be"),
        ({"openai:x": {"input": 1, "output": "cheap"}}, "'openai:x': output must be"),
        ({"openai:x": {"input": 1, "output": 1, "currency": "EUR"}}, "unknown field(s) currency"),
    ],
)
def test_bad_entries_are_named(tmp_path: Path, models: dict[str, Any], message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"models": models}), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        PriceTable.load(str(path))
    assert message in str(raised.value) and str(path) in str(raised.value)


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=30))
def test_the_budget_is_never_overspent_when_calls_cost_the_same(costs: list[float]) -> None:
    """With equal calls, admitting only while spent + dearest <= limit never overspends."""
    cost = costs[0]
    budget = Budget(limit=3.0)
    for _ in costs:
        if not budget.allows():
            break
        budget.charge(Usage(calls=1, cost_usd=cost))
        if budget.reason is not None:
            break
    assert budget.spent <= 3.0 or budget.spent == cost  # only a first call dearer than the limit


async def test_the_engine_stops_at_the_budget_and_keeps_what_finished() -> None:
    class PricedJudge:
        """ScriptedJudge's verdicts, each costing $1."""

        def __init__(self) -> None:
            from lamdis_core.testing.fakes import ScriptedJudge

            self.inner = ScriptedJudge([1.0])
            self.name, self.offline = "priced", False

        async def evaluate(self, request: Any) -> Any:
            import attrs

            verdict = await self.inner.evaluate(request)
            return attrs.evolve(verdict, usage=Usage(calls=1, tokens=10, cost_usd=1.0))

        async def aclose(self) -> None:
            return None

    tests = [
        make_test(
            id=f"t{n}",
            steps=[
                {"type": "message", "content": "hi"},
                {"type": "assistant_check", "rubric": "greets"},
            ],
        )
        for n in range(4)
    ]
    engine, _, _ = engine_with(judge=PricedJudge())
    result = await engine.run(plan_of(*tests), concurrency=1, max_cost=2.5)
    assert [i.status for i in result.items] == [
        ItemStatus.PASSED,
        ItemStatus.PASSED,
        ItemStatus.SKIPPED,
        ItemStatus.SKIPPED,
    ]
    assert result.status is RunStatus.PARTIAL and not result.stopped
    assert result.stop_reason and "would exceed --max-cost $2.5000" in result.stop_reason
    assert result.usage.cost_usd == 2.0
