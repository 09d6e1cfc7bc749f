"""A fake OpenAI Chat Completions server speaking the real wire format over real HTTP.

``POST /v1/chat/completions`` answers a ``chat.completion`` object with ``usage`` (with
``stream: true``, ``chat.completion.chunk`` events ending ``data: [DONE]``); errors use
OpenAI's ``{"error": {...}}`` body, so the real ``openai`` SDK maps them to its exceptions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
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
        self.chunk_delay_s = 0.0
        # Tool calls a streamed answer carries: [{"name", "arguments"}].
        self.stream_tool_calls: list[dict[str, Any]] = []

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
        if body.get("stream"):
            return await self._stream(request, body, reply.text, prompt_tokens, completion_tokens)
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

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> web.StreamResponse:
        """``stream: true``: chat.completion.chunk events word by word, a finish chunk, the
        usage chunk when ``stream_options.include_usage`` asks, then ``[DONE]``."""
        ident = f"chatcmpl-fake{next(self._ids)}"
        base = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {**base, "choices": choices, **extra}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)

        await send(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
        for word in re.findall(r"\S+\s*", text):
            await send([{"index": 0, "delta": {"content": word}, "finish_reason": None}])
        for index, call in enumerate(self.stream_tool_calls):
            arguments = json.dumps(call["arguments"])
            half = len(arguments) // 2
            await send(
                [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": f"call_{index}",
                                    "type": "function",
                                    "function": {
                                        "name": call["name"],
                                        "arguments": arguments[:half],
                                    },
                                }
                            ]
                        },
                        "finish_reason": None,
                    }
                ]
            )
            await send(
                [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {"index": index, "function": {"arguments": arguments[half:]}}
                            ]
                        },
                        "finish_reason": None,
                    }
                ]
            )
        await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            await send([], usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def error_response(self, reply: Reply) -> web.StreamResponse:
        kind = _ERROR_TYPES.get(
            reply.status, "server_error" if reply.status >= 500 else "invalid_request_error"
        )
        return web.json_response(
            {"error": {"message": reply.text, "type": kind, "param": None, "code": None}},
            status=reply.status,
            headers=reply.headers,
        )
