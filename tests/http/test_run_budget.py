"""LAMDIS_MAX_COST_PER_RUN in the service: a run whose judge calls would exceed it stops as
``partial``, the stored run says why, and what finished is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from lamdis_core.domain.errors import ConfigError
from lamdis_core.domain.results import Usage
from lamdis_core.pricing import PriceTable
from lamdis_core.testing.fakes import ScriptedJudge
from lamdis_http.app import WORKER_KEY
from lamdis_http.bootstrap import Settings

from tests.http._helpers import start, wait_status
from tests.http.conftest import MakeService


class DollarJudge(ScriptedJudge):
    """Every verdict costs $1 (it prices its own calls, so it carries a price table)."""

    prices = PriceTable.default()

    async def evaluate(self, request: Any) -> Any:
        verdict = await super().evaluate(request)
        return attrs.evolve(verdict, usage=Usage(calls=1, tokens=10, cost_usd=1.0))


def test_the_budget_variable_is_read_and_checked() -> None:
    assert Settings.from_env({"LAMDIS_MAX_COST_PER_RUN": "2.5"}).max_cost == 2.5
    assert Settings.from_env({}).max_cost is None
    with pytest.raises(ConfigError, match="LAMDIS_MAX_COST_PER_RUN"):
        Settings.from_env({"LAMDIS_MAX_COST_PER_RUN": "-1"})


async def test_a_run_over_budget_is_partial_with_the_reason(
    make_service: MakeService, config_dir: Path
) -> None:
    judged = {
        "id": "judged-tests",
        "assistantRef": "assistants/demo",
        "tests": [
            {
                "id": f"j{n}",
                "steps": [
                    {"type": "message", "role": "user", "content": "hello"},
                    {"type": "assistant_check", "rubric": "greets the user"},
                ],
            }
            for n in range(4)
        ],
    }
    (config_dir / "tests/judged.json").write_text(json.dumps(judged), encoding="utf-8")
    (config_dir / "suites/judged.json").write_text(
        json.dumps(
            {
                "id": "judged",
                "assistants": {"include": ["assistants/demo"]},
                "tests": {"includeFiles": ["tests/judged.json"]},
            }
        ),
        encoding="utf-8",
    )
    judge = DollarJudge([1.0])
    svc = await make_service(judge=judge, max_cost=1.5)
    svc.app[WORKER_KEY].concurrency = 1  # one test at a time: the spend is deterministic
    run_id = await start(svc.client, {"suiteId": "judged"})
    run = await wait_status(svc.client, run_id)
    assert run["status"] == "partial"
    assert "would exceed --max-cost $1.5000" in run["error"]
    assert len(judge.requests) == 1
    stored = await svc.store.get_run(run_id)
    assert stored is not None and stored.usage.cost_usd == 1.0
    assert sum(1 for i in stored.items if i.status.value == "passed") == 1


async def test_a_budget_with_a_judge_that_reports_no_cost_refuses_to_start(
    make_service: MakeService,
) -> None:
    from lamdis_http.bootstrap import StartupError

    with pytest.raises(StartupError, match="budget cannot be enforced"):
        await make_service(judge=ScriptedJudge([1.0]), max_cost=1.0)
