"""A fake OpenAI Chat Completions server speaking the real wire format over real HTTP.

``POST /v1/chat/completions`` answers a ``chat.completion`` object with ``usage``; errors use
OpenAI's ``{"error": {...}}`` body, so the real ``openai`` SDK maps them to its exceptions.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiohttp import web

from tests.fakes._scripted import RecordedRequest, Reply, ScriptedLLMServer

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}


class OpenAIRecordedRequest(RecordedRequest):
    def message_texts(self) -> list[tuple[str, str]]:
        out = []
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
            out.append((message.get("role", ""), content or ""))
        return out


class FakeOpenAIServer(ScriptedLLMServer):
    """The Chat Completions endpoint; ``base_url`` is what ``OPENAI_BASE`` should be set to."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v1"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        return app

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {"error": {"message": "body is not JSON", "type": "invalid_request_error"}},
                status=400,
            )
        if (
            not isinstance(body, dict)
            or not body.get("model")
            or not isinstance(body.get("messages"), list)
        ):
            return web.json_response(
                {
                    "error": {
                        "message": "model and messages are required",
                        "type": "invalid_request_error",
                    }
                },
                status=400,
            )
        played = await self.play(OpenAIRecordedRequest(request.path, dict(request.headers), body))
        if isinstance(played, web.StreamResponse):
            return played
        reply, prompt_tokens, completion_tokens = played
        payload: dict[str, Any] = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return web.json_response(payload)

    def error_response(self, reply: Reply) -> web.StreamResponse:
        kind = _ERROR_TYPES.get(
            reply.status, "server_error" if reply.status >= 500 else "invalid_request_error"
        )
        return web.json_response(
            {"error": {"message": reply.text, "type": kind, "param": None, "code": None}},
            status=reply.status,
            headers=reply.headers,
        )
