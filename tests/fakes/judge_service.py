"""A fake external judge service: ``POST /orgs/{orgId}/judge`` in the seed's wire shape.

Scripted like the LLM fakes (``script(raw(...), error(...), hang())``); with nothing
scripted it answers a passing verdict. Requests are recorded with their headers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes._scripted import RecordedRequest, Reply, ScriptedLLMServer


def judged(
    score: float,
    *,
    passed: bool | None = None,
    reasoning: str = "Meets the rubric.",
    threshold: float = 0.7,
    **extra: Any,
) -> Reply:
    """The service answers ``{pass, score, threshold, reasoning}`` (plus ``extra`` fields)."""
    body: dict[str, Any] = {"score": score, "threshold": threshold, "reasoning": reasoning, **extra}
    if passed is not None:
        body["pass"] = passed
    return Reply(kind="raw", body=body)


class JudgeServiceRequest(RecordedRequest):
    @property
    def org_id(self) -> str:
        return self.path.split("/")[2]

    def message_texts(self) -> list[tuple[str, str]]:
        texts = [("rubric", str(self.body.get("rubric", "")))]
        texts += [
            (str(t.get("role", "")), str(t.get("content", "")))
            for t in self.body.get("transcript", [])
        ]
        return texts


async def _default(recorded: RecordedRequest) -> Reply:
    return judged(0.9, passed=True, threshold=float(recorded.body.get("threshold", 0.7)))


class FakeJudgeService(ScriptedLLMServer):
    def __init__(self) -> None:
        super().__init__()
        self.responder = _default

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/orgs/{org_id}/judge", self._judge)
        return app

    async def _judge(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        played = await self.play(JudgeServiceRequest(request.path, dict(request.headers), body))
        if isinstance(played, web.StreamResponse):
            return played
        return web.json_response(
            {"error": "the fake judge service only answers scripted raw replies"}, status=500
        )

    def error_response(self, reply: Reply) -> web.StreamResponse:
        return web.json_response({"error": reply.text}, status=reply.status, headers=reply.headers)
