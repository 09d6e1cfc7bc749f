"""OpenTelemetry traces end to end: ``lamdis run`` and ``lamdis serve`` as subprocesses export
to a real OTLP/HTTP receiver on loopback; the assistant (also on loopback) records the
``traceparent`` it received, and the judge is the wire-format OpenAI fake reporting usage."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.test_serve import Server, api, base_env, launch, wait_for_status
from tests.e2e.test_serve import servers as servers  # the fixture
from tests.fakes._scripted import RecordedRequest, Reply, answer, chat_reply, verdict_json
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fixtures.otlp import OtlpReceiver, ReceivedSpan
from tests.fixtures.servers import channel_bots_process, free_port
from tests.http._configs import write_config_tree

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

OPENAI_KEY = "sk-e2e-not-a-real-key"
OTLP_TOKEN = "otlp-header-secret-4711"
QUERY_TOKEN = "query-secret-0815"
PATH_TOKEN = "path-secret-77a9c1e5"  # a bot token in the URL path, as some chat APIs want
SPAN_KIND_CLIENT = 3
STATUS_OK, STATUS_ERROR = 1, 2


class Loopback:
    """The OTLP receiver, a recording assistant and the OpenAI fake, served from a
    background event loop while lamdis runs as a subprocess."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.receiver = OtlpReceiver()
        self.openai = FakeOpenAIServer()
        self.traceparents: list[str] = []
        self.runners: list[web.AppRunner] = []
        self.receiver_url = self.assistant_url = ""

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _chat(self, request: web.Request) -> web.Response:
        self.traceparents.append(request.headers.get("traceparent", ""))
        return web.json_response({"reply": "Hello! Diversification spreads risk."})

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.runners.append(runner)
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        return f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.thread.start()
        self.receiver_url = self._run(self._serve(self.receiver.app))
        assistant = web.Application()
        assistant.router.add_post("/chat", self._chat)
        assistant.router.add_post("/{bot}/chat", self._chat)
        self.assistant_url = self._run(self._serve(assistant))
        self._run(self.openai.start())

        async def priced(_: RecordedRequest) -> Reply:
            return answer(
                verdict_json(0.9, reasoning="Fine."), prompt_tokens=1000, completion_tokens=100
            )

        self.openai.responder = priced

    def stop(self) -> None:
        try:
            self._run(self.openai.stop())
            for runner in self.runners:
                self._run(runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    running = Loopback()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _tree(root: Path, assistant_url: str) -> None:
    (root / "assistants").mkdir(parents=True)
    (root / "assistants/bot.json").write_text(
        json.dumps(
            {
                "id": "bot",
                "env": {
                    "channel": "http_chat",
                    "baseUrl": f"{assistant_url}/bot${{BOT_PATH_TOKEN}}",
                    "path": f"/chat?token={QUERY_TOKEN}",
                },
            }
        ),
        encoding="utf-8",
    )
    (root / "tests").mkdir()
    judged = {"type": "assistant_check", "rubric": "Explains diversification"}
    (root / "tests/traced.json").write_text(
        json.dumps(
            {
                "id": "traced",
                "assistantRef": "assistants/bot",
                "tests": [
                    {
                        "id": "explains",
                        "steps": [
                            {"type": "message", "role": "user", "content": "What is it?"},
                            {"type": "includes", "includes": ["Diversification"]},
                            judged,
                        ],
                    },
                    {
                        "id": "promises",
                        "steps": [
                            {"type": "message", "role": "user", "content": "Promise me?"},
                            {"type": "includes", "includes": ["guaranteed"], "name": "promise"},
                            judged,
                        ],
                    },
                ],
            }
        ),
        encoding="utf-8",
    )


def _env(loopback: Loopback, **otel: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "JUDGE_", "LAMDIS_", "DB_", "OTEL_"))
    }
    env.update(
        {
            "JUDGE_PROVIDER": "openai",
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE": loopback.openai.base_url,
            "OPENAI_MODEL": "gpt-4o-mini",
            "BOT_PATH_TOKEN": PATH_TOKEN,
            **otel,
        }
    )
    return env


def _run(
    root: Path, env: dict[str, str], args: tuple[str, ...] = ("tests/traced.json", "--no-cache")
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "run", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _run_traced(
    loopback: Loopback,
    root: Path,
    args: tuple[str, ...] = ("tests/traced.json", "--no-cache"),
    **otel: str,
) -> subprocess.CompletedProcess[str]:
    """The test tree, run with its spans sent to the receiver."""
    _tree(root, loopback.assistant_url)
    return _run(
        root, _env(loopback, OTEL_EXPORTER_OTLP_ENDPOINT=loopback.receiver_url, **otel), args
    )


def _only(spans: list[ReceivedSpan]) -> ReceivedSpan:
    assert len(spans) == 1, spans
    return spans[0]


def _no_secrets(spans: list[ReceivedSpan]) -> None:
    text = json.dumps([[s.attributes, s.status_message, s.resource] for s in spans])
    for secret in (OPENAI_KEY, OTLP_TOKEN, QUERY_TOKEN, PATH_TOKEN):
        assert secret not in text


def test_readme_shows_the_command_the_next_test_runs() -> None:
    block = (
        "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318\n"
        "export OTEL_SERVICE_NAME=assistant-tests\n"
        "lamdis run tests/\n"
    )
    for page in (REPO / "packages/lamdis-http/README.md", REPO / "docs/observability.md"):
        assert f"```sh\n{block}```" in page.read_text(encoding="utf-8"), page


def test_run_exports_run_test_turn_and_judge_spans(loopback: Loopback, tmp_path: Path) -> None:
    """The README's command, with the receiver's port."""
    proc = _run_traced(
        loopback,
        tmp_path,
        ("tests/",),
        OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer {OTLP_TOKEN}",
        OTEL_SERVICE_NAME="assistant-tests",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # "promises" fails
    assert "not exported" not in proc.stderr
    received = loopback.receiver
    assert received.headers and all(
        h.get("Authorization") == f"Bearer {OTLP_TOKEN}" for h in received.headers
    )
    spans = received.spans
    assert {s.resource["service.name"] for s in spans} == {"assistant-tests"}

    run = _only(received.named("lamdis run"))
    assert run.parent_span_id == ""
    assert run.attributes["lamdis.run.status"] == "failed"
    assert run.attributes["lamdis.run.passed"] == 1
    assert run.attributes["lamdis.run.failed"] == 1

    tests = {s.attributes["lamdis.test.id"]: s for s in spans if s.name.startswith("lamdis test ")}
    assert set(tests) == {"explains", "promises"}
    for test_id, test in tests.items():
        assert test.name == f"lamdis test {test_id}"
        # Each test execution is a trace of its own, linked to the run.
        assert test.parent_span_id == ""
        assert test.links == [(run.trace_id, run.span_id)]
        assert test.attributes["lamdis.assistant.id"] == "bot"
        in_trace = [s for s in spans if s.trace_id == test.trace_id and s is not test]
        turn = _only([s for s in in_trace if s.name == "lamdis turn 1"])
        judge = _only([s for s in in_trace if s.name == "chat gpt-4o-mini"])
        assert len(in_trace) == 2
        assert turn.parent_span_id == test.span_id
        assert judge.parent_span_id == test.span_id
        assert turn.kind == judge.kind == SPAN_KIND_CLIENT
        host, port = loopback.assistant_url.removeprefix("http://").split(":")
        assert turn.attributes == {
            "lamdis.turn": 1,
            "http.request.method": "POST",
            # The path's credential masked (from the environment), the query dropped.
            "url.full": f"{loopback.assistant_url}/bot***/chat",
            "server.address": host,
            "server.port": int(port),
            "http.response.status_code": 200,
        }
        assert judge.attributes["gen_ai.operation.name"] == "chat"
        assert judge.attributes["gen_ai.provider.name"] == "openai"
        assert judge.attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert judge.attributes["gen_ai.usage.input_tokens"] == 1000
        assert judge.attributes["gen_ai.usage.output_tokens"] == 100
        assert judge.attributes["lamdis.judge.score"] == pytest.approx(0.9)
        # The assistant was told this trace, with the turn's span as the parent.
        assert f"00-{test.trace_id}-{turn.span_id}-01" in loopback.traceparents

    assert tests["explains"].status_code == STATUS_OK
    assert tests["explains"].attributes["lamdis.test.status"] == "passed"
    failed = tests["promises"]
    assert failed.status_code == STATUS_ERROR
    assert failed.attributes["lamdis.test.status"] == "failed"
    assert failed.attributes["lamdis.test.failed_check"] == "promise"
    assert "guaranteed" in failed.attributes["lamdis.test.failure"]
    assert "guaranteed" in failed.status_message
    assert len(loopback.traceparents) == 2
    _no_secrets(spans)


def test_an_unreachable_collector_neither_fails_nor_slows_the_run(
    loopback: Loopback, tmp_path: Path
) -> None:
    """Nothing listens on the endpoint and the queue holds 2 spans: the run ends as it would
    untraced, and the 7 spans it made are reported as dropped, once."""
    _tree(tmp_path, loopback.assistant_url)
    started = time.monotonic()
    plain = _run(tmp_path, _env(loopback))
    plain_s = time.monotonic() - started
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = _run(
        tmp_path,
        _env(
            loopback,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{dead}/v1/traces?key={QUERY_TOKEN}",
            # Waiting out the exporter's own retries would take this long.
            OTEL_EXPORTER_OTLP_TIMEOUT="60",
            OTEL_BSP_MAX_QUEUE_SIZE="2",
        ),
    )
    traced_s = time.monotonic() - started
    assert proc.returncode == plain.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("FAIL") == plain.stdout.count("FAIL")
    warning = (
        f"lamdis: warning: OpenTelemetry: 7 span(s) were not exported to {dead}/v1/traces "
        "([Errno 111] Connection refused); the run's results are not affected"
    )
    assert proc.stderr.count(warning) == 1, proc.stderr
    assert proc.stderr.count("OpenTelemetry") == 1, proc.stderr
    assert QUERY_TOKEN not in proc.stderr
    # Loose on purpose (a loaded machine): far below the 60 s the exporter would retry for.
    assert traced_s < plain_s + 20, (traced_s, plain_s)


def test_a_sampled_out_test_still_sends_its_traceparent(loopback: Loopback, tmp_path: Path) -> None:
    """``OTEL_TRACES_SAMPLER=always_off``: nothing is exported, and each conversation still
    has its own trace id in ``traceparent``, with the sampled flag off."""
    proc = _run_traced(loopback, tmp_path, OTEL_TRACES_SAMPLER="always_off")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert loopback.receiver.spans == []
    assert len(loopback.traceparents) == 2
    trace_ids = {header.split("-")[1] for header in loopback.traceparents}
    assert len(trace_ids) == 2
    assert all(header.endswith("-00") for header in loopback.traceparents)


def test_two_runs_in_one_process_both_export(loopback: Loopback, tmp_path: Path) -> None:
    """An application calling ``lamdis_http.cli.main`` twice: the global tracer provider is
    set once, and the second run's spans reach the collector too."""
    _tree(tmp_path, loopback.assistant_url)
    code = (
        "from lamdis_http.cli import main\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        main(['run', 'tests/traced.json', '--no-cache'])\n"
        "    except SystemExit as exc:\n"
        "        print('exit', exc.code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(loopback, OTEL_EXPORTER_OTLP_ENDPOINT=loopback.receiver_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout.count("exit 1") == 2, proc.stdout + proc.stderr
    assert "warning" not in proc.stderr.lower(), proc.stderr
    assert len(loopback.receiver.named("lamdis run")) == 2
    assert len([s for s in loopback.receiver.spans if s.name.startswith("lamdis test ")]) == 4


def test_serve_exports_spans_for_a_hosted_run(
    loopback: Loopback,
    tmp_path: Path,
    servers: list[Server],
) -> None:
    config_dir = write_config_tree(tmp_path / "configs", loopback.assistant_url)
    env = base_env(
        config_dir,
        DB_PROVIDER="local",
        OTEL_EXPORTER_OTLP_ENDPOINT=loopback.receiver_url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    server = launch(servers, env, tmp_path)
    status, started = api(server, "POST", "/internal/runs/start", {"suiteId": "smoke"})
    assert status == 202, started
    run = wait_for_status(server, started["runId"], {"passed", "failed"})
    assert run["status"] == "passed", run
    deadline = time.monotonic() + 30
    while len(loopback.receiver.named("lamdis run")) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.terminate() == 0
    spans = loopback.receiver.spans
    run_span = _only(loopback.receiver.named("lamdis run"))
    assert run_span.resource["service.name"] == "lamdis"
    assert run_span.attributes["lamdis.suite.id"] == "smoke"
    assert run_span.attributes["lamdis.run.id"] == started["runId"]
    assert run_span.attributes["lamdis.run.attempt"] == 1
    tests = [s for s in spans if s.name.startswith("lamdis test ")]
    assert sorted(t.attributes["lamdis.test.id"] for t in tests) == [
        "greets",
        "warns-about-risk",
    ]
    turns = [s for s in spans if s.name.startswith("lamdis turn ")]
    assert len(turns) == 3  # warns-about-risk has two turns
    by_id = {t.span_id: t for t in tests}
    for turn in turns:
        assert by_id[turn.parent_span_id].trace_id == turn.trace_id
        assert f"00-{turn.trace_id}-{turn.span_id}-01" in loopback.traceparents
    assert all(t.links == [(run_span.trace_id, run_span.span_id)] for t in tests)
    assert any(line.get("event") == "otel.exporting" for line in server.log_lines())


def test_configurable_channels_describe_each_turn_request(
    loopback: Loopback, tmp_path: Path
) -> None:
    """examples/channels against the channel bots: every turn span of the HTTP channels (REST
    with a session, SSE, WebSocket, rate-limited...) names the request the turn made; a
    session's start and close requests do not land on the test span."""
    with channel_bots_process(REPO) as bots_url:
        env = _env(loopback, OTEL_EXPORTER_OTLP_ENDPOINT=loopback.receiver_url)
        env["CHANNEL_BOTS_URL"] = bots_url
        proc = _run(REPO, env, ("examples/channels/tests", "--results-dir", str(tmp_path / "r")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spans = loopback.receiver.spans
    tests = {s.span_id: s for s in spans if s.name.startswith("lamdis test ")}
    assert len(tests) == 20
    assert all(t.status_code == STATUS_OK for t in tests.values())
    assert not any(k.startswith(("http.", "url.")) for t in tests.values() for k in t.attributes)
    turns = [s for s in spans if s.name.startswith("lamdis turn ")]
    assert turns and all(t.parent_span_id in tests for t in turns)
    for turn in turns:
        test_id = tests[turn.parent_span_id].attributes["lamdis.test.id"]
        url = turn.attributes["url.full"]
        if test_id == "streamed-model-reply":
            # openai_chat: the request the OpenAI SDK made.
            assert turn.attributes["http.request.method"] == "POST"
            assert url == f"{bots_url}/v1/chat/completions"
            assert turn.attributes["http.response.status_code"] == 200
        elif test_id.startswith("websocket"):
            assert turn.attributes["http.request.method"] == "GET"
            assert url.startswith(bots_url.replace("http://", "ws://") + "/"), url
        else:
            assert turn.attributes["http.request.method"] == "POST"
            assert url.startswith(f"{bots_url}/"), url
            assert turn.attributes["http.response.status_code"] == 200
        if test_id.startswith("rest-session"):
            assert url == f"{bots_url}/rest/messages"


def _openai_chat_tree(root: Path, model_url: str) -> None:
    """An assistant exposed as an OpenAI-compatible chat API (the wire-format fake), one test
    it answers and one it answers with HTTP 500."""
    (root / "assistants").mkdir(parents=True)
    (root / "assistants/model.json").write_text(
        json.dumps(
            {"id": "model", "env": {"channel": "openai_chat", "baseUrl": model_url, "model": "m"}}
        ),
        encoding="utf-8",
    )
    (root / "tests").mkdir()
    tests = [
        {"id": "answers", "steps": [{"type": "message", "content": "Hello"}]},
        {"id": "breaks", "steps": [{"type": "message", "content": "Hello #fail:500"}]},
    ]
    (root / "tests/model.json").write_text(
        json.dumps({"id": "model", "assistantRef": "assistants/model", "tests": tests}),
        encoding="utf-8",
    )


def test_openai_chat_turns_send_traceparent_and_describe_the_request(
    loopback: Loopback, tmp_path: Path
) -> None:
    """The assistant behind the OpenAI SDK receives the test's trace in ``traceparent``, with
    the turn's span as the parent; the turn span names the SDK's request and its status."""
    model = loopback.openai
    model.responder = chat_reply
    _openai_chat_tree(tmp_path, model.base_url)
    env = _env(loopback, OTEL_EXPORTER_OTLP_ENDPOINT=loopback.receiver_url)
    proc = _run(tmp_path, env, ("tests/model.json", "--no-cache"))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # "breaks" is an error
    assert "not exported" not in proc.stderr
    spans = loopback.receiver.spans
    tests = {s.attributes["lamdis.test.id"]: s for s in spans if s.name.startswith("lamdis test ")}
    assert set(tests) == {"answers", "breaks"}
    received = {
        request.message_texts()[-1][1]: {k.lower(): v for k, v in request.headers.items()}
        for request in model.requests
    }
    assert set(received) == {"Hello", "Hello #fail:500"}
    for test_id, message, status in (("answers", "Hello", 200), ("breaks", "Hello #fail:500", 500)):
        test = tests[test_id]
        turn = _only([s for s in spans if s.parent_span_id == test.span_id])
        assert turn.name == "lamdis turn 1" and turn.trace_id == test.trace_id
        assert turn.kind == SPAN_KIND_CLIENT
        # The trace id the assistant received is the test span's; its parent, the turn span.
        assert received[message]["traceparent"] == f"00-{test.trace_id}-{turn.span_id}-01"
        expected = {
            "lamdis.turn": 1,
            "http.request.method": "POST",
            "url.full": f"{model.base_url}/v1/chat/completions",
            "server.address": "127.0.0.1",
            "server.port": model.port,
            "http.response.status_code": status,
        }
        if status >= 400:
            expected["error.type"] = str(status)
        assert turn.attributes == expected
    assert tests["answers"].status_code == STATUS_OK
    assert tests["breaks"].attributes["lamdis.test.status"] == "error"
    assert tests["breaks"].status_code == STATUS_ERROR
    _no_secrets(spans)
