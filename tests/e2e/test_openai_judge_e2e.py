"""``lamdis run`` of the examples with ``JUDGE_PROVIDER=openai``, the judge being the fake
OpenAI server (real SDK, real HTTP) and the assistant the bundled demo.

Checks what a user of an LLM judge cares about: the model saw the rubric and the
conversation, the report shows the model's reasoning and the tokens spent, and a second
identical run is answered from the on-disk cache without calling the model again.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lamdis_http.demo import start_demo_server

from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FILES = [
    "examples/configs/tests/investing/risk-disclosure.json",
    "examples/configs/tests/investing/iterative.yaml",
]
RUBRIC = "Explains risk, potential loss and diversification as general information."
ITERATIVE_RUBRIC = (
    "Diversification and the risk of potential loss are explained as general information."
)
FIRST_USER_MESSAGE = "I want to move everything into a very risky biotech stock."


class Servers:
    """The demo assistant and the fake OpenAI server, served from a background event loop
    while the CLI runs as a subprocess."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.openai = FakeOpenAIServer()
        self.demo_url = ""
        self._demo: Any = None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def start(self) -> None:
        self.thread.start()
        self._demo, self.demo_url = self._run(start_demo_server("127.0.0.1", 0, 0))
        self._run(self.openai.start())

    def stop(self) -> None:
        try:
            self._run(self.openai.stop())
            if self._demo is not None:
                self._run(self._demo.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    running = Servers()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def lamdis_run(servers: Servers, results: Path, report: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LAMDIS_DEMO_URL": servers.demo_url,
        "JUDGE_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-e2e-not-a-real-key",
        "OPENAI_BASE": servers.openai.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "lamdis_http.cli",
            "run",
            *FILES,
            "--json",
            str(report),
            "--results-dir",
            str(results),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def judge_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        check
        for item in report["items"]
        for check in item["assertions"]
        if check.get("type") == "assistant_check"
    ]


def test_openai_judge_scores_the_examples_and_the_second_run_hits_the_cache(
    servers: Servers, tmp_path: Path
) -> None:
    """The judge gets rubric and transcript, the report shows reasoning and usage, and a rerun costs no calls."""
    first = lamdis_run(servers, tmp_path / "results", tmp_path / "first.json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "openai:gpt-4o-mini" in first.stdout + first.stderr
    sent = servers.openai.requests
    assert sent, "the fake OpenAI server received no request"
    prompts = [request.prompt for request in sent]
    assert any(RUBRIC in p and FIRST_USER_MESSAGE in p for p in prompts)
    assert any(ITERATIVE_RUBRIC in p for p in prompts)
    assert all(request.body.get("response_format") == {"type": "json_object"} for request in sent)

    report = json.loads((tmp_path / "first.json").read_text(encoding="utf-8"))
    assert (
        report["judge"]["provider"] == "openai:gpt-4o-mini" and report["judge"]["offline"] is False
    )
    checks = judge_checks(report)
    assert checks and all("Fake judge" in check["details"]["reasoning"] for check in checks)
    usage = report["usage"]
    assert usage["calls"] == len(sent)
    assert usage["tokens"] == servers.openai.total_reported_tokens > 0
    assert usage["cachedCalls"] == 0

    calls_before = len(sent)
    second = lamdis_run(servers, tmp_path / "results", tmp_path / "second.json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(servers.openai.requests) == calls_before, "the second run called the model again"
    again = json.loads((tmp_path / "second.json").read_text(encoding="utf-8"))
    assert again["usage"]["calls"] == 0 and again["usage"]["tokens"] == 0
    assert again["usage"]["cachedCalls"] == calls_before
    assert [c["details"]["reasoning"] for c in judge_checks(again)] == [
        c["details"]["reasoning"] for c in checks
    ]
