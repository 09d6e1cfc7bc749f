"""``lamdis run`` against an assistant that misbehaves in ways no error type declares: a
redirect loop, a reply nested 100,000 deep, half an emoji, an API answering ``NaN``.

Each such test is that test's ``error`` (or its honest verdict); the other tests pass, and
every report is written and parses strictly.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

pytestmark = pytest.mark.e2e

DEEP = 100_000


def _hostile_app() -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        message = str((await request.json()).get("message", ""))
        if "#loop" in message:
            raise web.HTTPTemporaryRedirect("/loop")
        if "#deep" in message:
            return web.Response(
                text='{"reply": ' + "[" * DEEP + "]" * DEEP + "}",
                content_type="application/json",
            )
        if "#emoji" in message:
            # The escape of half a surrogate pair: valid JSON syntax, not valid Unicode.
            return web.Response(
                text='{"reply": "half an emoji: \\ud83d, then a bell \\u0007"}',
                content_type="application/json",
            )
        return web.json_response({"reply": f"Hello! You said: {message}"})

    async def loop(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/loop")

    async def lenient_api(request: web.Request) -> web.StreamResponse:
        return web.Response(
            text='{"score": NaN, "limit": Infinity, "name": "x\\udc00y"}',
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_route("*", "/loop", loop)
    app.router.add_get("/lenient", lenient_api)
    return app


class _Server:
    """The hostile assistant on a free loopback port, served from a background loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _start(self) -> None:
        self.runner = web.AppRunner(_hostile_app(), shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in self.runner.addresses if isinstance(a, tuple))
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def hostile_url() -> Iterator[str]:
    server = _Server()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _write(root: Path, relative: str, data: Any) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: bare {name}")


def _strict_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        path.read_text(encoding="utf-8"), parse_constant=_refuse_constant
    )
    return data


def _tree(root: Path, url: str) -> None:
    _write(
        root,
        "assistants/hostile.json",
        {"id": "hostile", "env": {"channel": "http_chat", "baseUrl": url, "path": "/chat"}},
    )
    _write(
        root,
        "requests/lenient.json",
        {
            "requests": [
                {
                    "id": "lenient",
                    "transport": {"http": {"method": "GET", "baseUrl": url, "path": "/lenient"}},
                }
            ]
        },
    )

    def case(test_id: str, content: str, term: str) -> dict[str, Any]:
        return {
            "id": test_id,
            "steps": [
                {"type": "message", "content": content},
                {"type": "includes", "includes": [term]},
            ],
        }

    tests = [
        case("before", "hello", "Hello"),
        case("loop", "hello #loop", "Hello"),
        case("deep", "hello #deep", "Hello"),
        case("emoji", "hello #emoji", "emoji"),
        {
            "id": "lenient",
            "steps": [
                {"type": "message", "content": "hello"},
                {"type": "request", "requestId": "lenient", "assign": "r"},
                {"type": "json_path", "source": "var.r", "path": "$.score", "exists": True},
                {"type": "json_path", "source": "var.r", "path": "$.name", "equals": "nope"},
            ],
        },
        case("after", "hello again", "Hello"),
    ]
    _write(
        root,
        "tests/hostile.json",
        {
            "assistantRef": "assistants/hostile",
            "imports": {"requests": ["requests/lenient.json"]},
            "tests": tests,
        },
    )


def test_hostile_replies_are_error_items_and_every_report_parses_strictly(
    tmp_path: Path, hostile_url: str
) -> None:
    _tree(tmp_path, hostile_url)
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("OPENAI_", "JUDGE_", "DB_", "GITHUB_", "LAMDIS_"))
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamdis_http.cli",
            "run",
            "tests/hostile.json",
            "--concurrency",
            "1",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stdout = proc.stdout.decode("utf-8")
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr, stderr

    results = tmp_path / "lamdis-results"
    summary = _strict_json(results / "summary.json")
    items = {item["testId"]: item for item in summary["items"]}
    assert set(items) == {"before", "loop", "deep", "emoji", "lenient", "after"}
    assert items["before"]["status"] == "passed"
    assert items["after"]["status"] == "passed"
    assert items["loop"]["status"] == "error"
    assert "redirect" in items["loop"]["error"]
    assert items["deep"]["status"] == "error"
    assert "nested deeper than" in items["deep"]["error"]
    assert items["emoji"]["status"] == "passed"
    reply = items["emoji"]["transcript"][-1]["content"]
    assert reply == "half an emoji: \ufffd, then a bell \u0007"
    lenient = items["lenient"]
    assert lenient["status"] == "failed"
    exists, equals = lenient["assertions"]
    assert exists["pass"] is True and exists["details"]["actual"] is None
    assert equals["details"]["actual"] == "x\ufffdy"
    assert summary["totals"] == {"passed": 3, "failed": 1, "skipped": 0, "errors": 2, "total": 6}

    junit = ET.parse(results / "junit.xml").getroot()
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    assert set(cases) == set(items)
    assert cases["loop"].find("error") is not None
    assert cases["deep"].find("error") is not None
    emoji_out = cases["emoji"].findtext("system-out") or ""
    assert "half an emoji: \ufffd, then a bell \ufffd" in emoji_out

    markdown = (results / "summary.md").read_text(encoding="utf-8")
    assert "| loop |" in markdown and "| deep |" in markdown
    assert "Totals:** 3 passed, 1 failed, 2 errors" in markdown
    assert "3 passed" in stdout


def test_validate_warns_about_a_script_longer_than_max_turns(tmp_path: Path) -> None:
    _tree(tmp_path, "http://127.0.0.1:9")
    script = {"messages": [{"role": "user", "content": f"m{i}"} for i in range(3)]}
    _write(
        tmp_path,
        "tests/long.json",
        {
            "assistantRef": "assistants/hostile",
            "tests": [{"id": "long", "objective": "o", "maxTurns": 2, "script": script}],
        },
    )
    proc = subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "validate", "tests/long.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "$.tests[0].script.messages" in proc.stderr
    assert "the script holds 3 user messages but maxTurns is 2" in proc.stderr
