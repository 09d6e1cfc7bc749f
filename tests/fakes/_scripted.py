"""The scriptable core shared by the fake LLM servers (OpenAI, Bedrock).

A test queues replies with :meth:`ScriptedLLMServer.script`; each request takes the next one,
and once the queue is empty a default responder answers by the shape of the prompt (a verdict
for a rubric, a message for an opening, a value for an extraction, an echo for a chat turn).
Every request is recorded, so tests can assert what reached the "model".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import attrs
from aiohttp import web

HANG_LIMIT_S = 30.0  # a hung reply never outlives this, even if a test forgets to stop the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define(kw_only=True)
class Reply:
    """One scripted answer: model text, an HTTP error, or a hang."""

    kind: Literal["text", "error", "hang", "raw", "html"]
    text: str = ""
    status: int = 200
    headers: dict[str, str] = attrs.Factory(dict)
    body: Any = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def answer(
    text: str, *, prompt_tokens: int | None = None, completion_tokens: int | None = None
) -> Reply:
    """The model answers ``text`` (token counts default to a length-based estimate)."""
    return Reply(
        kind="text", text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )


def verdict_json(
    score: float,
    *,
    passed: bool | None = None,
    reasoning: str = "The reply meets the rubric.",
    next_message: str | None = None,
) -> str:
    body: dict[str, Any] = {"score": score, "reasoning": reasoning}
    if passed is not None:
        body["pass"] = passed
    if next_message is not None:
        body["next_message"] = next_message
    return json.dumps(body)


def verdict(score: float, **kwargs: Any) -> Reply:
    """The model answers a well-formed verdict JSON."""
    return answer(verdict_json(score, **kwargs))


def error(
    status: int, *, retry_after: str | None = None, message: str = "scripted failure"
) -> Reply:
    """The server answers HTTP ``status`` (with ``Retry-After`` when given)."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(kind="error", status=status, headers=headers, text=message)


def hang() -> Reply:
    """The server accepts the request and never answers (until the server stops)."""
    return Reply(kind="hang")


@attrs.define
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    # When the server read the request: tests time the gap between a client's attempts from
    # here, so the client's own set-up (an SDK loading its models) is not counted.
    received_at: float = attrs.field(factory=time.monotonic, kw_only=True)

    @property
    def prompt(self) -> str:
        """Every message text of the request, joined: what the model was shown."""
        return "\n".join(text for _, text in self.message_texts())

    def message_texts(self) -> list[tuple[str, str]]:
        raise NotImplementedError


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def judge_reply(prompt: str) -> Reply | None:
    """A plausible answer to one of lamdis' judge prompts, or None for any other prompt."""
    if "VALUE TO EXTRACT:" in prompt:
        name = re.search(r"VALUE TO EXTRACT: (\S+)", prompt)
        value = f"fake-{name.group(1)}" if name else "fake"
        return answer(
            json.dumps({"found": True, "value": value, "reasoning": "Stated by the user."})
        )
    if "Write the user's opening message" in prompt:
        return answer(json.dumps({"message": "Hello, I need some help please."}))
    if "RUBRIC:" in prompt:
        rubric = prompt.split("RUBRIC:", 1)[1].strip().splitlines()[0][:80]
        body: dict[str, Any] = {
            "score": 0.9,
            "pass": True,
            "reasoning": f"Fake judge: the reply satisfies the rubric ({rubric}).",
        }
        if '"next_message"' in prompt:
            body["next_message"] = "Thanks. Can you tell me more?"
        return answer(json.dumps(body))
    return None


_FAIL = re.compile(r"#fail:(\w+)")
_DELAY = re.compile(r"#delay:(\d+)")


async def chat_reply(recorded: RecordedRequest) -> Reply:
    """A chat model's answer, obeying the TargetContract markers in the last user message.

    ``#echo`` repeats every message received; ``#delay:MS`` waits; ``#fail:KIND`` fails
    (``400``/``429``/``500``/``503``, ``empty``, ``nonjson``, ``hang``). Without a marker the
    reply is a short acknowledgement of the last message.
    """
    texts = recorded.message_texts()
    last_user = next((text for role, text in reversed(texts) if role == "user"), "")
    delay = _DELAY.search(last_user)
    if delay:
        await asyncio.sleep(int(delay.group(1)) / 1000)
    fail = _FAIL.search(last_user)
    if fail:
        kind = fail.group(1)
        if kind == "hang":
            return hang()
        if kind == "empty":
            return answer("")
        if kind == "nonjson":
            return Reply(kind="html", status=200, text="<html><body>maintenance</body></html>")
        if kind.isdigit():
            return error(int(kind), retry_after="0" if kind == "429" else None)
    if "#echo" in last_user:
        return answer("Echo: " + " | ".join(text for _, text in texts))
    return answer(f"Thanks for your message: {last_user[:200]}")


async def default_reply(recorded: RecordedRequest) -> Reply:
    """The answer when nothing is scripted: judge prompts get verdicts, chat turns replies."""
    return judge_reply(recorded.prompt) or await chat_reply(recorded)


class ScriptedLLMServer:
    """An aiohttp app on a free loopback port that replies as scripted. Subclasses add the
    wire format (routes, request reading, response and error bodies)."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.reported_usage: list[tuple[int, int]] = []
        self.responder: Callable[[RecordedRequest], Awaitable[Reply]] = default_reply
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order by the next requests."""
        self.replies.extend(replies)

    async def next_reply(self, recorded: RecordedRequest) -> Reply:
        return self.replies.popleft() if self.replies else await self.responder(recorded)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.build_app(), handler_cancellation=True, shutdown_timeout=2.0
        )
        await self._runner.setup()
        self.port = free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedLLMServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- shared reply handling ----------------------------------------------------------------

    async def play(self, recorded: RecordedRequest) -> tuple[Reply, int, int] | web.StreamResponse:
        """Records the request and returns the scripted reply with its token counts, or an
        HTTP response for error/raw replies (built by the subclass's :meth:`error_response`)."""
        self.requests.append(recorded)
        reply = await self.next_reply(recorded)
        if reply.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), HANG_LIMIT_S)
            return web.Response(status=504, text="hung reply released")
        if reply.kind == "error":
            return self.error_response(reply)
        if reply.kind == "html":
            return web.Response(status=reply.status, text=reply.text, content_type="text/html")
        if reply.kind == "raw":
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        prompt_tokens = (
            reply.prompt_tokens
            if reply.prompt_tokens is not None
            else _estimate_tokens(recorded.prompt)
        )
        completion_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else _estimate_tokens(reply.text)
        )
        self.reported_usage.append((prompt_tokens, completion_tokens))
        return reply, prompt_tokens, completion_tokens

    def error_response(self, reply: Reply) -> web.StreamResponse:
        raise NotImplementedError

    @property
    def total_reported_tokens(self) -> int:
        return sum(p + c for p, c in self.reported_usage)
