"""A fake Bedrock Runtime server speaking the Converse REST wire format over real HTTP.

``POST /model/{modelId}/converse`` answers ``{output.message.content[].text, stopReason,
usage, metrics}``. SigV4 ``Authorization`` headers are accepted but not verified (they are
recorded, so a test can see the request was signed). Errors carry ``x-amzn-ErrorType`` the
way AWS sends them, so botocore raises the real ``ClientError`` codes.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes._scripted import RecordedRequest, Reply, ScriptedLLMServer

_ERROR_CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


class BedrockRecordedRequest(RecordedRequest):
    @property
    def model_id(self) -> str:
        return self.path.split("/")[2]

    def message_texts(self) -> list[tuple[str, str]]:
        out = [("system", block.get("text", "")) for block in self.body.get("system", []) or []]
        for message in self.body.get("messages", []):
            text = "\n".join(
                block.get("text", "") for block in message.get("content", []) if "text" in block
            )
            out.append((message.get("role", ""), text))
        return out


class FakeBedrockServer(ScriptedLLMServer):
    """The Converse endpoint; point ``BEDROCK_ENDPOINT_URL`` at ``base_url``."""

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/model/{model_id}/converse", self._converse)
        return app

    async def _converse(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return self.error_response(Reply(kind="error", status=400, text="body is not JSON"))
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self.error_response(Reply(kind="error", status=400, text="messages is required"))
        recorded = BedrockRecordedRequest(
            f"/model/{request.match_info['model_id']}/converse", dict(request.headers), body
        )
        played = await self.play(recorded)
        if isinstance(played, web.StreamResponse):
            return played
        reply, prompt_tokens, completion_tokens = played
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": reply.text}]}},
                "stopReason": "end_turn",
                "usage": {
                    "inputTokens": prompt_tokens,
                    "outputTokens": completion_tokens,
                    "totalTokens": prompt_tokens + completion_tokens,
                },
                "metrics": {"latencyMs": 5},
            },
            headers={"x-amzn-RequestId": "fake-request-id"},
        )

    def error_response(self, reply: Reply) -> web.StreamResponse:
        code = _ERROR_CODES.get(
            reply.status,
            "InternalServerException" if reply.status >= 500 else "ValidationException",
        )
        headers = {
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            **reply.headers,
        }
        return web.json_response({"message": reply.text}, status=reply.status, headers=headers)
