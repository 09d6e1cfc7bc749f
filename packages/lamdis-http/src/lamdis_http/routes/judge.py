"""``POST /orgs/{orgId}/judge``: the configured judge, with lamdis-runs' request and response.

Request: ``{rubric, threshold?, transcript[], lastAssistant?, requestNext?, persona?, scope?,
objective?}``. Response: ``{pass, score, threshold, reasoning, nextUser?, shouldContinue,
unassessed?, model, usage}``. A judge that cannot judge answers 502 with a problem body —
never a pass; one whose method cannot assess the rubric answers ``pass: false`` with
``unassessed`` saying why ("needs an LLM judge").
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from lamdis_core.domain.config import DEFAULT_CHECK_THRESHOLD
from lamdis_core.domain.errors import JudgeError
from lamdis_core.logs import get_logger
from lamdis_core.ports.judge import ConversationTurn, JudgeRequest

from lamdis_http import _problems as p
from lamdis_http._problems import ProblemError
from lamdis_http.app import JUDGE_KEY, json_response
from lamdis_http.judges.external import FORWARDED_HEADER, ExternalJudge

logger = get_logger()
routes = web.RouteTableDef()


def _turn(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "expected an object {role, content}"
    if not isinstance(value.get("role"), str):
        return "role: expected a string"
    if not isinstance(value.get("content"), str):
        return "content: expected a string"
    return None


@routes.post("/orgs/{orgId}/judge")
async def judge(request: web.Request) -> web.Response:
    if FORWARDED_HEADER in request.headers and isinstance(request.app[JUDGE_KEY], ExternalJudge):
        raise ProblemError(
            508,
            "judge loop refused: this request came from an external judge and this service's "
            "judge is external too (JUDGE_BASE_URL points back at a lamdis service); point "
            "JUDGE_BASE_URL at a service with an LLM judge",
        )
    body = await p.json_object(request)
    p.validate(
        body,
        required={"rubric": p.string()},
        optional={
            "threshold": p.number(minimum=0, maximum=1),
            "transcript": p.array(_turn),
            "lastAssistant": p.string(non_empty=False),
            "requestNext": p.boolean(),
            "persona": p.string(non_empty=False),
            "scope": p.string(choices=["last", "transcript"]),
            "objective": p.string(non_empty=False),
        },
        nullable=("threshold", "lastAssistant", "persona", "objective", "requestNext", "scope"),
    )
    raw_threshold = body.get("threshold")
    threshold = float(raw_threshold) if raw_threshold is not None else DEFAULT_CHECK_THRESHOLD
    turns = [
        ConversationTurn(role=t["role"], content=t["content"]) for t in body.get("transcript") or []
    ]
    last_assistant = body.get("lastAssistant")
    if last_assistant:
        previous = next((t.content for t in reversed(turns) if t.role == "assistant"), None)
        if previous != last_assistant:
            turns.append(ConversationTurn(role="assistant", content=last_assistant))
    if not any(t.role == "assistant" for t in turns):
        p.invalid([p.FieldIssue("transcript", "needs an assistant turn, or give lastAssistant")])
    judge_request = JudgeRequest(
        rubric=body["rubric"],
        threshold=threshold,
        transcript=turns,
        scope=body.get("scope") or "last",
        persona=body.get("persona") or None,
        objective=body.get("objective") or None,
        propose_next=bool(body.get("requestNext")),
        org_id=request.match_info["orgId"],
    )
    judge_port = request.app[JUDGE_KEY]
    try:
        verdict = await judge_port.evaluate(judge_request)
    except asyncio.CancelledError:
        raise
    except JudgeError as exc:
        logger.warning("judge.failed", judge=judge_port.name, error=str(exc))
        raise ProblemError(502, f"the judge could not judge: {exc}", judge=judge_port.name) from exc
    except Exception as exc:  # an adapter bug must still not read as a verdict
        logger.exception("judge.crashed", judge=judge_port.name)
        raise ProblemError(
            502, f"the judge failed: {type(exc).__name__}", judge=judge_port.name
        ) from exc
    result: dict[str, Any] = {
        "pass": verdict.passed,
        "score": verdict.score,
        "threshold": verdict.threshold,
        "reasoning": verdict.reasoning,
        "shouldContinue": (
            verdict.should_continue if verdict.should_continue is not None else not verdict.passed
        ),
        "model": verdict.model,
        "usage": {
            "tokens": verdict.usage.tokens,
            "calls": verdict.usage.calls,
            "promptTokens": verdict.usage.prompt_tokens,
            "completionTokens": verdict.usage.completion_tokens,
        },
    }
    if verdict.next_message:
        result["nextUser"] = verdict.next_message
    if verdict.unassessed:
        # The judge could not assess this rubric (the offline judge and "polite"): not a pass.
        result["unassessed"] = verdict.unassessed
    return json_response(result)
