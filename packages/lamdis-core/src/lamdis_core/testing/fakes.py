"""Reference fakes for tests of code built on lamdis-core: target, judge, requester, clock.

They keep the ports' promises (the contract suites hold them to it) but need no network, so
engine tests are instant and deterministic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from lamdis_core.domain.config import Assistant
from lamdis_core.domain.errors import JudgeError, RequestError, TargetError
from lamdis_core.domain.results import Usage
from lamdis_core.llm import OutputParseError, read_score
from lamdis_core.ports.judge import (
    Extraction,
    ExtractRequest,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)
from lamdis_core.ports.requester import HttpCall, HttpResult
from lamdis_core.ports.target import AuthHeaders, TurnReply, TurnRequest

Responder = Callable[[TurnRequest], "str | Awaitable[str] | TurnReply | Exception"]


class FakeClock:
    """A clock whose ``sleep`` advances time instantly. ``sleeps`` records every wait."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


class FakeTarget:
    """Answers each turn with ``responder(turn)``: text, a TurnReply, or an exception to raise.

    Like a real target it honours the turn timeout (a retryable :class:`TargetError` when the
    responder takes longer than ``timeout_s``) and reports the latency it measured, never less
    than ``latency_ms``. ``requests`` records every turn received.
    """

    def __init__(
        self, responder: Responder, *, latency_ms: float = 5.0, timeout_s: float | None = None
    ) -> None:
        self.responder = responder
        self.latency_ms = latency_ms
        self.timeout_s = timeout_s
        self.requests: list[TurnRequest] = []
        self.closed = False

    async def send(self, turn: TurnRequest) -> TurnReply:
        self.requests.append(turn)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                outcome: Any = self.responder(turn)
                if isinstance(outcome, Awaitable):
                    outcome = await outcome
        except TimeoutError:
            assert self.timeout_s is not None
            raise TargetError(
                f"no reply within {self.timeout_s * 1000:g} ms", retryable=True
            ) from None
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, TurnReply):
            return outcome
        if not isinstance(outcome, str) or not outcome:
            raise TargetError("reply is empty")
        measured = (time.perf_counter() - started) * 1000
        return TurnReply(
            text=outcome, latency_ms=max(self.latency_ms, measured), raw={"reply": outcome}
        )

    async def aclose(self) -> None:
        self.closed = True


class FakeTargetFactory:
    """Hands out one FakeTarget per assistant, all answering with the same responder."""

    def __init__(
        self, responder: Responder, *, channel: str = "http_chat", latency_ms: float = 5.0
    ) -> None:
        self.channel = channel
        self.responder = responder
        self.latency_ms = latency_ms
        self.targets: dict[str, FakeTarget] = {}
        self.auth_headers: dict[str, AuthHeaders] = {}
        self.envs: dict[str, Mapping[str, str]] = {}

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> FakeTarget:
        target = FakeTarget(
            self.responder,
            latency_ms=self.latency_ms,
            timeout_s=assistant.env.timeout_ms / 1000,
        )
        self.targets[assistant.id] = target
        self.auth_headers[assistant.id] = auth_headers
        self.envs[assistant.id] = env
        return target

    async def aclose(self) -> None:
        return None


class ScriptedJudge:
    """A judge whose verdicts are given by the test.

    ``scores`` is consumed one per ``evaluate`` call (the last one repeats); an entry that is an
    exception is raised instead. Scores are read as a real judge reads them
    (:func:`~lamdis_core.llm.read_score`: outside [0, 1] only on a scale the model's pass agrees
    with, else a :class:`JudgeError`) and ``passed`` is computed from them. ``model_passes`` (consumed alongside, optional) is what "the
    model" claimed, kept as ``model_pass``. ``next_messages`` likewise feeds ``propose_next``.
    """

    name = "scripted"
    offline = False

    def __init__(
        self,
        scores: list[float | Exception] | None = None,
        *,
        next_messages: list[str | None] | None = None,
        opening: str = "Hello, I need help.",
        extractions: Mapping[str, object] | None = None,
        tokens_per_call: int = 0,
        model_passes: list[bool | None] | None = None,
    ) -> None:
        self.scores = list(scores or [1.0])
        self.model_passes = list(model_passes or [])
        self.next_messages = list(next_messages or [])
        self.opening = opening
        self.extractions = dict(extractions or {})
        self.tokens_per_call = tokens_per_call
        self.requests: list[JudgeRequest] = []

    def _usage(self) -> Usage:
        return Usage(tokens=self.tokens_per_call, calls=1)

    async def evaluate(self, request: JudgeRequest) -> Verdict:
        self.requests.append(request)
        score = self.scores.pop(0) if len(self.scores) > 1 else self.scores[0]
        if isinstance(score, Exception):
            raise score
        model_pass = self.model_passes.pop(0) if self.model_passes else None
        try:
            score = read_score(score, model_pass=model_pass, threshold=request.threshold)
        except OutputParseError as exc:
            raise JudgeError(f"scripted score is unusable: {exc}") from exc
        next_message = None
        if request.propose_next:
            next_message = self.next_messages.pop(0) if self.next_messages else "Tell me more."
        return Verdict(
            score=score,
            threshold=request.threshold,
            passed=score >= request.threshold,
            model_pass=model_pass,
            reasoning=f"scripted score {score}",
            model="scripted",
            next_message=next_message,
            usage=self._usage(),
        )

    async def open_conversation(self, request: OpeningRequest) -> tuple[str, Usage]:
        return self.opening, self._usage()

    async def extract(self, request: ExtractRequest) -> Extraction:
        if request.variable_name in self.extractions:
            value = self.extractions[request.variable_name]
            if isinstance(value, Exception):
                raise value
            return Extraction(
                found=True, value=value, reasoning="scripted", model="scripted", usage=self._usage()
            )
        return Extraction(
            found=False,
            value=None,
            reasoning="scripted: not found",
            model="scripted",
            usage=self._usage(),
        )

    async def aclose(self) -> None:
        return None


Route = Callable[[HttpCall], "HttpResult | Exception | Any"]


class FakeRequester:
    """Answers HTTP calls from a routing function; records every call.

    The function returns an HttpResult, an exception to raise (RequestError for "no
    response"), or any JSON value (sent back as a 200).
    """

    def __init__(self, route: Route | None = None) -> None:
        self.route = route or (lambda call: RequestError(f"no route for {call.method} {call.url}"))
        self.calls: list[HttpCall] = []

    async def send(self, call: HttpCall) -> HttpResult:
        self.calls.append(call)
        outcome = self.route(call)
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, HttpResult):
            return outcome
        return HttpResult(
            status=200, headers={"content-type": "application/json"}, body=outcome, latency_ms=1.0
        )

    async def aclose(self) -> None:
        return None


__all__ = [
    "FakeClock",
    "FakeRequester",
    "FakeTarget",
    "FakeTargetFactory",
    "ScriptedJudge",
]
