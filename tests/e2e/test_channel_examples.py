"""``lamdis run`` on every example under examples/channels, against the real bots of each
shape (tests/fakes/channel_bots.py) on a loopback port; the CLI as a subprocess."""

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

from tests.fakes.channel_bots import BotState, serve_bots

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHANNELS = REPO / "examples" / "channels"


class Bots:
    """The bots served from a background event loop in this process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.state = BotState(rate=20.0, burst=4.0, tokens=4.0)
        self.url = ""
        self._cm: Any = None

    def start(self) -> None:
        self.thread.start()
        self._cm = serve_bots(self.state)
        future = asyncio.run_coroutine_threadsafe(self._cm.__aenter__(), self.loop)
        self.url, _ = future.result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cm.__aexit__(None, None, None), self.loop).result(
            timeout=10
        )
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def bots() -> Iterator[Bots]:
    served = Bots()
    served.start()
    try:
        yield served
    finally:
        served.stop()


def lamdis_run(bots: Bots, example: str, tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "JUDGE_", "DB_", "LAMDIS_"))
    }
    env["CHANNEL_BOTS_URL"] = bots.url
    report = tmp_path / f"{example}.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamdis_http.cli",
            "run",
            str(CHANNELS / "tests" / f"{example}.yaml"),
            "--json",
            str(report),
            "--results-dir",
            str(tmp_path / "results"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    summary = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, summary, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "example",
    ["rest-session", "cookie-session", "sse-openai", "sse-events", "websocket", "tool-calling"],
)
def test_each_channel_example_passes_end_to_end(bots: Bots, example: str, tmp_path: Path) -> None:
    code, summary, output = lamdis_run(bots, example, tmp_path)
    assert code == 0, output
    assert summary["totals"]["errors"] == 0 and summary["totals"]["failed"] == 0
    assert summary["totals"]["passed"] >= 1


def test_the_rest_example_closes_its_sessions(bots: Bots, tmp_path: Path) -> None:
    before = len(bots.state.closed)
    code, _, output = lamdis_run(bots, "rest-session", tmp_path)
    assert code == 0, output
    assert len(bots.state.closed) == before + 1


def test_streaming_examples_record_time_to_first_token(bots: Bots, tmp_path: Path) -> None:
    code, summary, output = lamdis_run(bots, "sse-openai", tmp_path)
    assert code == 0, output
    replies = [t for t in summary["items"][0]["transcript"] if t["role"] == "assistant"]
    assert all(t["ttftMs"] <= t["latencyMs"] and t["chunks"] >= 1 for t in replies)
    assert replies[-1]["toolCalls"][0]["name"] == "get_weather"


def test_the_rate_limited_example_backs_off_and_reports_it(bots: Bots, tmp_path: Path) -> None:
    """20 requests/s with a burst of 4, 24 turns: 429s come back, every test still passes,
    and the reports count them."""
    refused_before = bots.state.refused
    code, summary, output = lamdis_run(bots, "rate-limited", tmp_path)
    assert code == 0, output
    assert summary["totals"]["passed"] == 12 and summary["totals"]["errors"] == 0
    refused = bots.state.refused - refused_before
    assert refused > 0
    assert summary["throttling"]["rateLimited"] == refused
    assert summary["throttling"]["backoffMs"] > 0
    assert "rate limits:" in output


def test_a_bad_channel_option_exits_2_before_any_turn(bots: Bots, tmp_path: Path) -> None:
    tree = tmp_path / "bad"
    (tree / "assistants").mkdir(parents=True)
    (tree / "tests").mkdir()
    (tree / "assistants" / "bot.yaml").write_text(
        "id: assistants/bot\nenv: {channel: http_chat, baseUrl: '${CHANNEL_BOTS_URL}'}\n"
        "request: {path: /rest/messages, body: {input: {text: '{{mesage}}'}}}\n"
    )
    (tree / "tests" / "t.yaml").write_text(
        "id: t\nassistantRef: assistants/bot\ntests:\n"
        "  - id: one\n    steps:\n      - {type: message, content: hi}\n"
    )
    seen = len(bots.state.bodies)
    env = {**os.environ, "CHANNEL_BOTS_URL": bots.url}
    proc = subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "run", str(tree / "tests" / "t.yaml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "bot.yaml:3 at $.request.body.input.text: unknown placeholder {{mesage}}" in proc.stderr
    assert len(bots.state.bodies) == seen


def test_the_openai_compatible_example_streams_from_a_keyless_server(tmp_path: Path) -> None:
    """openai_chat against the wire-format OpenAI fake by base URL, no OPENAI_API_KEY."""
    from tests.fakes.openai_server import FakeOpenAIServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeOpenAIServer()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "JUDGE_"))}
        env["CHANNEL_BOTS_URL"] = server.base_url
        report = tmp_path / "summary.json"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "lamdis_http.cli",
                "run",
                str(CHANNELS / "tests" / "openai-compatible.yaml"),
                "--json",
                str(report),
                "--results-dir",
                str(tmp_path / "r"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(report.read_text())
    (reply,) = [t for t in summary["items"][0]["transcript"] if t["role"] == "assistant"]
    assert reply["chunks"] >= 2 and reply["ttftMs"] <= reply["latencyMs"]
    assert server.requests[0].body["stream"] is True
    assert server.requests[0].headers.get("Authorization") == "Bearer unused"


def test_the_examples_readme_commands_run_as_written(tmp_path: Path) -> None:
    """examples/channels/README.md: the bots as a module, then lamdis run on the folder."""
    from tests.fixtures.servers import channel_bots_process

    with channel_bots_process(REPO) as bots_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "JUDGE_"))}
        env["CHANNEL_BOTS_URL"] = bots_url
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "lamdis_http.cli",
                "run",
                "examples/channels/tests",
                "--results-dir",
                str(tmp_path / "r"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "20 passed, 0 failed, 0 errors" in proc.stdout
