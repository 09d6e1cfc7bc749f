"""A judge whose calls are spans (GenAI semantic conventions), for traced runs."""

from __future__ import annotations

from typing import Any

from lamdis_core import tracing
from lamdis_core.domain.results import Usage
from lamdis_core.ports.judge import (
    Extraction,
    ExtractRequest,
    Judge,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)


def _usage(usage: Usage, model: str | None = None) -> dict[str, Any]:
    return {
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "lamdis.judge.cached": bool(usage.cached_calls),
        "lamdis.cost_usd": usage.cost_usd,
    }


class TracedJudge:
    """Delegates to ``judge``; each call is a ``chat {model}`` span under the current one
    (the test's), with the model and the tokens it used. No prompt or answer text."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.name = judge.name
        self.offline = judge.offline

    async def evaluate(self, request: JudgeRequest) -> Verdict:
        with tracing.judge_span(self.name, "evaluate") as span:
            verdict = await self.judge.evaluate(request)
            span.set(_usage(verdict.usage, verdict.model))
            span.set({"lamdis.judge.score": verdict.score, "lamdis.judge.passed": verdict.passed})
            return verdict

    async def open_conversation(self, request: OpeningRequest) -> tuple[str, Usage]:
        with tracing.judge_span(self.name, "open_conversation") as span:
            message, usage = await self.judge.open_conversation(request)
            span.set(_usage(usage))
            return message, usage

    async def extract(self, request: ExtractRequest) -> Extraction:
        with tracing.judge_span(self.name, "extract") as span:
            extraction = await self.judge.extract(request)
            span.set(_usage(extraction.usage, extraction.model))
            return extraction

    async def aclose(self) -> None:  # the composition root closes the real judge
        return None
