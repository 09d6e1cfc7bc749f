"""Cost in money and the ``--max-cost`` budget, end to end: ``lamdis run`` as a subprocess,
the demo assistant on loopback, the judge the wire-format OpenAI fake reporting usage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_openai_judge_e2e import Servers
from tests.fakes._scripted import RecordedRequest, Reply, answer, verdict_json

pytestmark = pytest.mark.e2e

PROMPT_TOKENS, COMPLETION_TOKENS = 1000, 100
# 100 USD per million tokens both ways: each judge call costs 1100 * 100 / 1e6 = $0.11.
CALL_COST = 0.11


@pytest.fixture
def servers() -> Iterator[Servers]:
    running = Servers()
    running.start()

    async def priced(_: RecordedRequest) -> Reply:
        return answer(
            verdict_json(0.9, reasoning="Fake judge: fine."),
            prompt_tokens=PROMPT_TOKENS,
            completion_tokens=COMPLETION_TOKENS,
        )

    running.openai.responder = priced
    try:
        yield running
    finally:
        running.stop()


def _tree(root: Path, tests: int) -> None:
    (root / "assistants").mkdir(parents=True)
    (root / "assistants/demo.json").write_text(
        json.dumps(
            {
                "id": "demo",
                "env": {"channel": "http_chat", "baseUrl": "${LAMDIS_DEMO_URL}", "path": "/chat"},
            }
        ),
        encoding="utf-8",
    )
    (root / "tests").mkdir()
    (root / "tests/judged.json").write_text(
        json.dumps(
            {
                "id": "judged",
                "assistantRef": "assistants/demo",
                "tests": [
                    {
                        "id": f"t{n}",
                        "steps": [
                            {
                                "type": "message",
                                "role": "user",
                                "content": "What is diversification?",
                            },
                            {"type": "assistant_check", "rubric": "Explains diversification"},
                        ],
                    }
                    for n in range(tests)
                ],
            }
        ),
        encoding="utf-8",
    )
    (root / "prices.yaml").write_text(
        "models:\n  openai:gpt-4o-mini: {input: 100, output: 100, asOf: 2026-01-01, source: test}\n",
        encoding="utf-8",
    )


def _run(
    servers: Servers, root: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "JUDGE_", "LAMDIS_", "DB_"))
    }
    env.update(
        {
            "LAMDIS_DEMO_URL": servers.demo_url,
            "JUDGE_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-e2e-not-a-real-key",
            "OPENAI_BASE": servers.openai.base_url,
            "OPENAI_MODEL": "gpt-4o-mini",
            **(extra or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "run", "tests/judged.json", "--no-cache", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _summary(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "out.json").read_text(encoding="utf-8"))
    return data


def test_cost_is_reported_per_judge_call_test_and_run(servers: Servers, tmp_path: Path) -> None:
    """Usage the provider reported, priced from the user's table, in every report."""
    _tree(tmp_path, tests=2)
    proc = _run(
        servers,
        tmp_path,
        "--prices",
        "prices.yaml",
        "--json",
        "out.json",
        "--junit",
        "out.xml",
        "--markdown",
        "out.md",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = _summary(tmp_path)
    assert summary["usage"]["costUsd"] == pytest.approx(2 * CALL_COST)
    for item in summary["items"]:
        assert item["usage"]["costUsd"] == pytest.approx(CALL_COST)
        (check,) = [c for c in item["assertions"] if c["type"] == "assistant_check"]
        assert check["details"]["costUsd"] == pytest.approx(CALL_COST)
        assert check["details"]["tokens"] == PROMPT_TOKENS + COMPLETION_TOKENS
    assert "cost: $0.2200" in proc.stdout
    assert "**Cost:** $0.2200" in (tmp_path / "out.md").read_text(encoding="utf-8")
    props = {
        p.get("name"): p.get("value")
        for p in ET.parse(tmp_path / "out.xml").getroot().iter("property")
    }
    assert props["cost"] == "$0.2200"


def test_a_model_without_a_price_costs_unknown_not_zero(servers: Servers, tmp_path: Path) -> None:
    _tree(tmp_path, tests=1)
    proc = _run(servers, tmp_path, "--json", "out.json", extra={"OPENAI_MODEL": "my-local-model"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = _summary(tmp_path)
    assert summary["usage"]["costUsd"] is None
    assert summary["usage"]["unpriced"] == ["openai:my-local-model"]
    assert "cost: unknown (no price for openai:my-local-model)" in proc.stdout
    assert "cost_unknown" in proc.stdout + proc.stderr  # the warning, once
    assert (proc.stdout + proc.stderr).count("cost_unknown") == 1


def test_max_cost_stops_the_run_before_overspending(servers: Servers, tmp_path: Path) -> None:
    """$0.25 allows two $0.11 calls; the third would exceed it, so it is never made: the run
    is partial, says why, keeps the two finished tests and exits 1."""
    _tree(tmp_path, tests=5)
    proc = _run(
        servers,
        tmp_path,
        "--prices",
        "prices.yaml",
        "--max-cost",
        "0.25",
        "--concurrency",
        "1",
        "--json",
        "out.json",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = _summary(tmp_path)
    assert summary["status"] == "partial"
    assert "would exceed --max-cost $0.2500" in summary["stopReason"]
    assert len(servers.openai.requests) == 2
    assert summary["usage"]["costUsd"] == pytest.approx(2 * CALL_COST)
    statuses = [i["status"] for i in summary["items"]]
    assert statuses == ["passed", "passed", "skipped", "skipped", "skipped"]
    assert "stopped early: budget" in proc.stdout


def test_the_service_variable_sets_the_budget_too(servers: Servers, tmp_path: Path) -> None:
    _tree(tmp_path, tests=3)
    proc = _run(
        servers,
        tmp_path,
        "--concurrency",
        "1",
        "--json",
        "out.json",
        extra={"LAMDIS_MAX_COST_PER_RUN": "0.15", "LAMDIS_PRICES": "prices.yaml"},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = _summary(tmp_path)
    assert summary["status"] == "partial" and len(servers.openai.requests) == 1


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("models:\n  gpt-5-typo: {input: 1, output: 1}\n", "unknown model 'gpt-5-typo'"),
        ("models:\n  openai:gpt-4o: {input: -1, output: 1}\n", "'openai:gpt-4o': input must be"),
    ],
)
def test_a_bad_price_table_exits_2_naming_the_entry(
    servers: Servers, tmp_path: Path, table: str, named: str
) -> None:
    _tree(tmp_path, tests=1)
    (tmp_path / "prices.yaml").write_text(table, encoding="utf-8")
    proc = _run(servers, tmp_path, "--prices", "prices.yaml")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert named in proc.stderr and "prices.yaml" in proc.stderr
    assert servers.openai.requests == []


def test_max_cost_without_a_price_for_the_judge_exits_2(servers: Servers, tmp_path: Path) -> None:
    _tree(tmp_path, tests=1)
    proc = _run(servers, tmp_path, "--max-cost", "1", extra={"OPENAI_MODEL": "unpriced-model"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no price for openai:unpriced-model" in proc.stderr
    assert servers.openai.requests == []
