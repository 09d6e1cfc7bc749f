"""One test against one assistant: turns in order, steps in order, checks recorded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from lamdis_core import tracing
from lamdis_core.config.interpolation import interpolate, interpolate_text, to_text
from lamdis_core.domain import config as c
from lamdis_core.domain.errors import (
    ConfigError,
    InterpolationError,
    JudgeError,
    RequestError,
    TargetError,
)
from lamdis_core.domain.plan import PlanEntry
from lamdis_core.domain.results import (
    Artifacts,
    Check,
    Item,
    ItemStatus,
    MessageCounts,
    Throttling,
    Timings,
    TranscriptEntry,
    Usage,
)
from lamdis_core.engine import _checks
from lamdis_core.engine._auth import AuthResolver
from lamdis_core.engine._objective import run_user_objective
from lamdis_core.engine.judging import (
    evaluate_sampled,
    item_status,
    judge_check,
    judge_error_check,
)
from lamdis_core.generators import execution_random, resolve_variables
from lamdis_core.logs import get_logger
from lamdis_core.masking import redact_url
from lamdis_core.ports.clock import Clock
from lamdis_core.ports.judge import (
    ConversationTurn,
    ExtractRequest,
    Judge,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)
from lamdis_core.ports.requester import HttpCall, HttpResult, Requester
from lamdis_core.ports.target import ConversationalTarget, Target, TurnReply, TurnRequest
from lamdis_core.ratelimit import THROTTLING_STATUSES, turn_budget
from lamdis_core.retry import RetryPolicy
from lamdis_core.sanitize import clean, clean_text

logger = get_logger()

TRANSCRIPT_ENTRY_LIMIT = 4000
"""Characters kept per transcript entry in stored results (documents stay small)."""


_TIMEOUT_SLACK_S = 0.25


class Stopped(Exception):
    """The run was asked to stop; this test did not finish."""


class _Abort(Exception):
    """The test cannot go on; the item is an error with this reason."""


def trim(text: str, limit: int = TRANSCRIPT_ENTRY_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [trimmed {len(text) - limit} characters]"


class TestExecution:
    """Runs one plan entry once. Create one per (entry, repeat)."""

    __test__ = False

    def __init__(
        self,
        *,
        entry: PlanEntry,
        repeat: int,
        target: Target,
        judge: Judge,
        requester: Requester,
        auth: AuthResolver,
        env: Mapping[str, str],
        clock: Clock,
        retry: RetryPolicy,
        stop: asyncio.Event,
        on_turn: Any,
        require_llm_judge: bool = False,
        judge_samples: int = 1,
        seed: int = 0,
    ) -> None:
        self.entry = entry
        self.seed = seed
        self.test = entry.test
        self.repeat = repeat
        self.target = target
        self.judge = judge
        self.requester = requester
        self.auth = auth
        self.env = env
        self.clock = clock
        self.retry = retry
        self.stop = stop
        self.on_turn = on_turn
        self.require_llm_judge = require_llm_judge
        self.judge_samples = judge_samples
        self._judged: tuple[JudgeRequest, str] | None = None
        self.transcript: list[TranscriptEntry] = []
        self.system: list[str] = []
        self.var: dict[str, Any] = {}
        self.steps: dict[str, Any] = {}
        self.pre_steps: dict[str, Any] = {}
        self.proposed: str | None = None
        self.last: dict[str, Any] = {"assistant": "", "user": "", "request": None}
        self.checks: list[Check] = []
        self.per_turn_ms: list[float] = []
        self.replies: list[str] = []  # what the target answered (not scripted context)
        self.per_turn_ttft_ms: list[float | None] = []
        self.tool_calls: list[list[dict[str, Any]]] = []
        self.throttling = Throttling()
        # One id per execution: the target's conversation key and the W3C trace id (the
        # test span's, when the run is traced).
        self.conversation_id = tracing.current_trace_id() or uuid.uuid4().hex
        self.scores: list[float] = []
        self.usage = Usage()
        self.log: list[str] = []
        self.persona_id = entry.test.persona_id

    # --- context -------------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        return {
            "var": self.var,
            "steps": self.steps,
            "preSteps": self.pre_steps,
            "last": self.last,
            "lastAssistant": self.last["assistant"],
            "lastUser": self.last["user"],
            "input": {},
        }

    def persona_text(self, persona_id: str | None) -> str | None:
        if not persona_id:
            return None
        persona = self.entry.personas.get(persona_id)
        if persona is None:
            raise _Abort(f"persona {persona_id!r} is not defined by the test file's imports")
        return persona.as_text()

    def judge_transcript(self) -> list[ConversationTurn]:
        return [ConversationTurn(role=t.role, content=t.content) for t in self.transcript]

    # --- running -------------------------------------------------------------------------

    async def run(self) -> Item:
        started_at = self.clock.now()
        error: str | None = None
        status: ItemStatus
        try:
            self._resolve_variables()
            for index, pre_step in enumerate(self.test.pre_steps):
                self._check_stop()
                await self._request(index, pre_step, pre=True)
            if self.test.steps:
                await self._run_steps()
            else:
                await self._run_iterative()
        except Stopped:
            status = ItemStatus.SKIPPED
            error = "stopped before the test finished"
            self.log.append(error)
        except _Abort as exc:
            error = str(exc)
        except (TargetError, RequestError, JudgeError, InterpolationError, ConfigError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            # A target, requester or judge that fails in a way it did not declare (a client
            # library's own error, a RecursionError) fails this test only; the run goes on.
            # No traceback in the log: its frames may hold headers with credentials.
            error = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "test_failed_unexpectedly",
                test=self.test.id,
                assistant=self.entry.assistant.id,
                error_type=type(exc).__name__,
                error=str(exc),
            )
        finally:
            if isinstance(self.target, ConversationalTarget):
                await self._end_conversation(self.target)
        if error is None or not error.startswith("stopped"):
            # A check that could not be assessed is no pass either: the item is skipped.
            status, error = item_status(self.checks, error)
            if status is ItemStatus.ERROR:
                self.log.append(f"error: {error}")
            elif status is ItemStatus.SKIPPED:
                self.log.append(f"skipped: {error}")
        return self._item(status, error, started_at)

    async def _end_conversation(self, target: ConversationalTarget) -> None:
        # The port says this never raises; an adapter that does anyway must not end the run.
        try:
            await target.end_conversation(self.conversation_id)
        except Exception as exc:
            self.log.append(f"could not end the conversation: {type(exc).__name__}: {exc}")
            logger.warning(
                "end_conversation_failed",
                test=self.test.id,
                error_type=type(exc).__name__,
                error=str(exc),
            )

    def _item(self, status: ItemStatus, error: str | None, started_at: Any) -> Item:
        users = sum(1 for t in self.transcript if t.role == "user")
        assistants = sum(1 for t in self.transcript if t.role == "assistant")
        return Item(
            test_id=self.test.id,
            test_name=self.test.label,
            assistant=self.entry.assistant.id,
            status=status,
            file=self.entry.source or None,
            repeat=self.repeat,
            transcript=[
                TranscriptEntry(
                    role=t.role,
                    content=trim(clean_text(t.content)),
                    persona_id=t.persona_id,
                    latency_ms=t.latency_ms,
                    ttft_ms=t.ttft_ms,
                    chunks=t.chunks,
                    tool_calls=t.tool_calls,
                )
                for t in self.transcript
            ],
            message_counts=MessageCounts(
                user=users, assistant=assistants, total=len(self.transcript)
            ),
            assertions=[
                attrs.evolve(
                    ch,
                    details=clean(ch.details),
                    error=clean_text(ch.error) if ch.error else ch.error,
                )
                for ch in self.checks
            ],
            timings=Timings.from_turns(self.per_turn_ms),
            judge_score=round(sum(self.scores) / len(self.scores), 4) if self.scores else None,
            usage=self.usage,
            throttling=self.throttling if self.throttling else None,
            error=clean_text(error) if error else error,
            artifacts=Artifacts(
                log=[clean_text(line) for line in self.log], requests=dict(self.steps)
            ),
            started_at=started_at,
            finished_at=self.clock.now(),
        )

    def _resolve_variables(self) -> None:
        """Test ``variables`` (generators drawn once), before anything else runs."""
        if not self.test.variables:
            return
        rng = execution_random(self.seed, self.test.id, self.entry.assistant.id, self.repeat)
        try:
            resolved = resolve_variables(
                ((v.key, v.value) for v in self.test.variables), rng, self.clock.now()
            )
        except ValueError as exc:
            raise _Abort(f"test variables: {exc}") from exc
        self.var.update(clean(resolved))
        self.log.append(f"variables resolved (seed {self.seed}): {', '.join(resolved)}")

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    async def _script_prelude(self) -> list[c.ScriptMessage]:
        """Apply the script's system/assistant messages; return its user messages in order."""
        users: list[c.ScriptMessage] = []
        for message in self.test.script.messages:
            if message.role == "user":
                users.append(message)
            else:
                self._script_context(message)
        return users

    def _script_context(self, message: c.ScriptMessage) -> None:
        """A system or assistant script message: context in the transcript, not a turn."""
        if message.role == "system":
            self.system.append(message.content)
        self.transcript.append(TranscriptEntry(role=message.role, content=message.content))

    async def _run_steps(self) -> None:
        # In the file's order: an assistant message written between two user messages is
        # context for the second turn, not for the first.
        for message in self.test.script.messages:
            if message.role == "user":
                await self.turn(message.content, message.persona_id)
            else:
                self._script_context(message)
        for index, step in enumerate(self.test.steps):
            self._check_stop()
            await self._step(index, step)
        config = self.test.judge_config
        if config is not None and config.rubric:
            verdict = await self._evaluate(
                config.rubric,
                config.threshold,
                "transcript",
                name="judgeConfig",
                samples=config.samples,
            )
            if verdict is not None:
                self.checks.append(self._judge_check("judge", "transcript", None, "error", verdict))

    async def _run_iterative(self) -> None:
        test = self.test
        config = test.judge_config or c.JudgeConfig()
        rubric = config.rubric or test.objective
        if not rubric:
            raise _Abort(
                "iterative test has neither judgeConfig.rubric nor an objective to judge against"
            )
        pending = await self._script_prelude()
        next_message: str | None = None
        next_persona = test.persona_id
        if not pending:
            if not test.objective:
                raise _Abort(
                    "iterative test needs script messages or an objective to open the conversation"
                )
            opening, usage = await self._judge_call(
                self.judge.open_conversation(
                    OpeningRequest(
                        objective=test.objective, persona=self.persona_text(test.persona_id)
                    )
                ),
                "open the conversation",
            )
            self.usage.add(usage)
            next_message = clean_text(opening)
        verdict: Verdict | None = None
        turns = 0
        while True:
            self._check_stop()
            if pending:
                message = pending.pop(0)
                text, persona_id = message.content, message.persona_id or test.persona_id
                from_file = True
            else:
                assert next_message is not None
                text, persona_id, from_file = next_message, next_persona, False
            await self.turn(text, persona_id, template=from_file)
            turns += 1
            if pending and turns < test.max_turns:
                continue
            if pending:
                # Scripted messages count toward maxTurns: a test never sends more turns.
                self.log.append(
                    f"maxTurns ({test.max_turns}) reached; {len(pending)} scripted user "
                    "message(s) not sent"
                )
                pending.clear()
            want_next = test.iterate and turns < test.max_turns
            verdict = await self._evaluate(
                rubric,
                config.threshold,
                "transcript",
                propose_next=want_next,
                name="judgeConfig",
                samples=config.samples,
            )
            if verdict is None:
                return
            done_min = turns >= test.min_turns
            if verdict.passed and done_min and not test.continue_after_pass:
                break
            if not want_next:
                break
            if verdict.unassessed and done_min:
                break  # more turns cannot make an unassessable rubric assessable
            if verdict.should_continue is False:
                self.log.append(f"judge ended the conversation after turn {turns}")
                break
            if not verdict.next_message:
                self.log.append(f"judge proposed no next message after turn {turns}; stopping")
                break
            next_message = clean_text(verdict.next_message)
        assert verdict is not None
        self.checks.append(
            self._judge_check("judge", "iterative", None, "error", verdict, turns=turns)
        )

    # --- turns ---------------------------------------------------------------------------

    async def turn(
        self,
        raw_text: str,
        persona_id: str | None,
        *,
        template: bool = True,
        inputs: Mapping[str, Any] | None = None,
        reply_path: str | None = None,
    ) -> TurnReply:
        """Send one user message; ``template`` says it came from the test file.

        A message the judge wrote is data: its ``${...}`` are sent as written.
        """
        self._check_stop()
        text = interpolate_text(raw_text, self.context()) if template else raw_text
        persona_id = persona_id or self.persona_id
        persona = self.persona_text(persona_id)
        request = TurnRequest(
            message=text,
            transcript=[
                {
                    "role": t.role,
                    "content": t.content,
                    **({"personaId": t.persona_id} if t.persona_id else {}),
                }
                for t in self.transcript
            ],
            persona=persona,
            persona_id=persona_id,
            system=list(self.system),
            conversation_id=self.conversation_id,
            turn=len(self.per_turn_ms) + 1,
            variables=dict(self.var),
            extra=dict(interpolate(dict(inputs), self.context())) if inputs else {},
            reply_path=reply_path,
        )
        self.transcript.append(TranscriptEntry(role="user", content=text, persona_id=persona_id))
        self.last["user"] = text
        with tracing.turn_span(request.turn):
            reply = await self._send(request)
        # Half an emoji ("\ud83d") cannot be written as UTF-8: judges, reports and stores
        # get U+FFFD instead.
        reply_text = clean_text(reply.text)
        calls = [
            {"name": clean_text(call.name), "arguments": clean(call.arguments)}
            for call in reply.tool_calls
        ]
        self.transcript.append(
            TranscriptEntry(
                role="assistant",
                content=reply_text,
                latency_ms=round(reply.latency_ms, 1),
                ttft_ms=None if reply.ttft_ms is None else round(reply.ttft_ms, 1),
                chunks=reply.chunks,
                tool_calls=calls or None,
            )
        )
        self.last["assistant"] = reply_text
        self.replies.append(reply_text)
        self.per_turn_ms.append(reply.latency_ms)
        self.per_turn_ttft_ms.append(reply.ttft_ms)
        self.tool_calls.append(calls)
        if reply.tokens:
            self.usage.tokens += reply.tokens
        await self.on_turn(len(self.per_turn_ms))
        return reply

    async def _send(self, request: TurnRequest) -> TurnReply:
        # A little slack, so a target's own timeout (whose message names the URL) fires first;
        # this one guards targets that have none.
        timeout_s = self.entry.assistant.env.timeout_ms / 1000 + _TIMEOUT_SLACK_S
        attempt = 0
        throttled = 0
        while True:
            try:
                try:
                    # Time spent queued for the host's rate limit is added back to the deadline.
                    async with asyncio.timeout(timeout_s) as deadline:
                        with turn_budget(deadline, self.throttling):
                            return await self.target.send(request)
                except TimeoutError:
                    raise TargetError(
                        f"no reply within {self.entry.assistant.env.timeout_ms} ms", retryable=True
                    ) from None
            except TargetError as exc:
                if exc.status in THROTTLING_STATUSES:
                    self.throttling.rate_limited += 1
                # "Come back in N s" is waited out on its own budget; a bare 503 is an outage.
                slow_down = (
                    exc.status in THROTTLING_STATUSES
                    and exc.retryable
                    and exc.retry_after is not None
                )
                if not self.retry.waits_for(exc.retry_after):
                    raise TargetError(
                        f"{exc} (asked to wait {exc.retry_after:g} s, more than the "
                        f"{self.retry.max_retry_after:g} s lamdis waits)",
                        status=exc.status,
                    ) from exc
                spent = (
                    throttled >= self.retry.rate_limited_retries
                    if slow_down
                    else (attempt - throttled >= self.retry.retries)
                )
                if not exc.retryable or spent:
                    if attempt:
                        raise TargetError(
                            f"{exc} (after {attempt + 1} attempts)", status=exc.status
                        ) from exc
                    raise
                if slow_down:
                    throttled += 1
                delay = self.retry.delay(attempt + 1, exc.retry_after)
                self.log.append(
                    f"turn attempt {attempt + 1} failed ({exc}); retrying in {delay:.2f}s"
                )
                logger.info(
                    "target turn retry",
                    test=self.test.id,
                    attempt=attempt + 1,
                    delay_s=round(delay, 3),
                    reason=str(exc),
                )
                if exc.status in THROTTLING_STATUSES:
                    self.throttling.backoff_ms += delay * 1000
                await self._back_off(delay)
                attempt += 1

    async def _back_off(self, delay: float) -> None:
        """Wait ``delay`` before a retry, or less when a stop arrives; then honour the stop.

        A stop that arrives while waiting must not be followed by one more call.
        """
        if not self.stop.is_set():
            sleeping = asyncio.ensure_future(self.clock.sleep(delay))
            stopping = asyncio.ensure_future(self.stop.wait())
            try:
                await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeping.cancel()
                stopping.cancel()
        self._check_stop()

    # --- steps ---------------------------------------------------------------------------

    def scope_text(self, scope: str) -> tuple[str, str]:
        """What a check of ``scope`` reads (the last reply, or every reply of the
        transcript) and how a check's reason names it."""
        if scope == "transcript":
            return "\n".join(self.replies), "the transcript"
        return self.last["assistant"], "the last reply"

    def _scope_calls(self, scope: str) -> tuple[list[dict[str, Any]], str]:
        if scope == "transcript":
            return [call for turn in self.tool_calls for call in turn], "the transcript"
        return (self.tool_calls[-1] if self.tool_calls else []), "the last reply"

    async def _step(self, index: int, step: c.Step) -> None:
        if isinstance(step, c.MessageStep):
            if step.role == "system":
                text = interpolate_text(step.content, self.context())
                self.system.append(text)
                self.transcript.append(TranscriptEntry(role="system", content=text))
            elif step.role == "assistant":
                # Context, not a turn: the target sees it in the next turn's transcript, and
                # checks of the assistant's replies do not count it as one.
                text = interpolate_text(step.content, self.context())
                self.transcript.append(TranscriptEntry(role="assistant", content=text))
            else:
                reply = await self.turn(
                    step.content,
                    step.persona_id,
                    inputs=step.assistant_input_mappings,
                    reply_path=step.response_field_path,
                )
                key = step.name or step.id
                if key:
                    output = reply.raw if reply.raw is not None else reply.text
                    self.steps[key] = {"output": clean(output), "status": "success"}
            return
        if isinstance(step, c.UserObjectiveStep):
            await run_user_objective(self, index, step)
            return
        if isinstance(step, c.RequestStep):
            await self._request(index, step)
            return
        if isinstance(step, c.ExtractStep):
            await self._extract(step)
            return
        check: Check | None
        if isinstance(step, c.AssistantCheckStep):
            check = await self.assistant_check(step)
        elif isinstance(step, c.IncludesStep | c.NotIncludesStep | c.RegexStep):
            check = self.text_check(step)
        elif isinstance(step, c.JsonPathStep):
            check = _checks.json_path(step, self.context())
        elif isinstance(step, c.LatencyStep):
            check = _checks.latency(step, self.per_turn_ms, self.per_turn_ttft_ms)
        elif isinstance(step, c.ToolCalledStep):
            check = _checks.tool_called(step, *self._scope_calls(step.scope))
        elif isinstance(step, c.NoToolCalledStep):
            check = _checks.no_tool_called(step, *self._scope_calls(step.scope))
        else:  # pragma: no cover - the loader rejects unknown step types
            raise _Abort(f"step {index} has unsupported type {type(step).__name__}")
        if check is not None:
            check.details.setdefault("step", index)
            # Where in the conversation it ran: the HTML page shows it beside that entry.
            check.details.setdefault("transcriptEntries", len(self.transcript))
            self.checks.append(check)

    def text_check(self, step: c.IncludesStep | c.NotIncludesStep | c.RegexStep) -> Check:
        """The check of an ``includes``, ``not_includes`` or ``regex`` step on the
        conversation so far."""
        text, scope_label = self.scope_text(step.scope)
        if isinstance(step, c.IncludesStep):
            return _checks.includes(step, text, scope_label)
        if isinstance(step, c.NotIncludesStep):
            return _checks.not_includes(step, text, scope_label)
        return _checks.regex(step, text, scope_label)

    async def assistant_check(
        self, step: c.AssistantCheckStep, *, propose_next: bool = False
    ) -> Check | None:
        """One ``assistant_check`` in any mode; ``None`` when the judge failed (an error
        check is recorded then). The verdict's proposed next message, if asked for, is in
        ``self.proposed``."""
        self.proposed = None
        if step.mode == "includes":
            terms = c.IncludesStep(
                includes=step.keywords,
                scope=step.effective_scope,
                severity=step.severity,
                name=step.name,
            )
            found = _checks.includes(terms, *self.scope_text(step.effective_scope))
            return attrs.evolve(found, type="assistant_check", subtype="includes")
        if step.mode == "variable_check":
            return _checks.variable_check(step, self.context())
        verdict = await self._evaluate(
            step.rubric or "",
            step.threshold,
            step.effective_scope,
            name=step.name,
            propose_next=propose_next,
            samples=step.samples,
        )
        if verdict is None:
            return None
        self.proposed = verdict.next_message if verdict.should_continue is not False else None
        return self._judge_check("assistant_check", "judge", step.name, step.severity, verdict)

    async def _judge_call(self, awaitable: Any, what: str) -> Any:
        try:
            return await awaitable
        except JudgeError as exc:
            raise _Abort(f"the judge could not {what}: {exc}") from exc

    async def _evaluate(
        self,
        rubric: str,
        threshold: float,
        scope: str,
        *,
        propose_next: bool = False,
        name: str | None = None,
        samples: int | None = None,
    ) -> Verdict | None:
        """A verdict, or ``None`` after recording an error check when the judge failed.

        With ``samples`` (else the run's ``--judge-samples``) above 1 the judge is asked that
        many times and the median taken.
        """
        request = JudgeRequest(
            rubric=interpolate_text(rubric, self.context()),
            threshold=threshold,
            transcript=self.judge_transcript(),
            scope="transcript" if scope == "transcript" else "last",
            persona=self.persona_text(self.persona_id),
            objective=self.test.objective,
            propose_next=propose_next,
        )
        try:
            verdict = await evaluate_sampled(self.judge, request, samples or self.judge_samples)
        except JudgeError as exc:
            self.checks.append(judge_error_check(name, request, str(exc)))
            return None
        self._judged = (request, rubric)
        self.usage.add(verdict.usage)
        if verdict.unassessed is None:
            self.scores.append(verdict.score)
        return verdict

    def _judge_check(
        self,
        kind: str,
        subtype: str,
        name: str | None,
        severity: c.Severity,
        verdict: Verdict,
        **extra: Any,
    ) -> Check:
        """The check for the verdict :meth:`_evaluate` just returned."""
        assert self._judged is not None
        request, raw_rubric = self._judged
        return judge_check(
            kind,
            subtype,
            name,
            severity,
            verdict,
            request,
            require_llm_judge=self.require_llm_judge,
            raw_rubric=raw_rubric,
            **extra,
        )

    async def _extract(self, step: c.ExtractStep) -> None:
        turns = self.judge_transcript()
        if step.scope == "last":
            turns = [t for t in turns if t.role == "assistant"][-1:]
        extraction = await self._judge_call(
            self.judge.extract(
                ExtractRequest(
                    variable_name=step.variable_name, description=step.description, transcript=turns
                )
            ),
            f"extract {step.variable_name}",
        )
        self.usage.add(extraction.usage)
        if extraction.found:
            self.var[step.variable_name] = clean(extraction.value)
        self.checks.append(
            Check(
                type="extract",
                name=step.variable_name,
                passed=extraction.found,
                severity="error",
                details={
                    "variable": step.variable_name,
                    "value": extraction.value,
                    "reasoning": extraction.reasoning,
                    "model": extraction.model,
                },
            )
        )

    async def _request(self, index: int, step: c.RequestStep, *, pre: bool = False) -> None:
        definition = self.entry.requests.get(step.request_id)
        if definition is None:
            raise _Abort(f"request {step.request_id!r} is not defined by the test file's imports")
        inputs_raw = step.input if step.input is not None else (step.input_mappings or {})
        inputs = interpolate(inputs_raw, self.context())
        if not isinstance(inputs, dict):
            raise _Abort(f"request step {index} input must be an object")
        context = {**self.context(), "input": inputs}
        auth_config = (
            self.entry.auths.get(definition.effective_auth_ref or "")
            if definition.effective_auth_ref
            else None
        )
        if definition.effective_auth_ref and auth_config is None:
            raise _Abort(
                f"request {definition.id} names auth {definition.effective_auth_ref!r}, which is not loaded"
            )
        named = self.auth.named_values(auth_config)
        env = {**self.env, **named}
        http = definition.transport.http
        where = f"request {definition.id}"
        path_template = (
            http.full_url or f"{(http.base_url or '').rstrip('/')}/{(http.path or '').lstrip('/')}"
        )
        consumed = {name for name in inputs if "{" + name + "}" in path_template}
        # One pass over each template: an input (which may hold an assistant's reply or a
        # request result) is pasted in as data, never read again for ${...} references.
        url = interpolate(
            path_template,
            context,
            strict=True,
            env=env,
            where=f"{where} URL",
            placeholders=inputs,
            as_text=True,
        )
        headers = dict(await self.auth.headers(auth_config))
        declared = interpolate(
            http.headers,
            context,
            strict=True,
            env=env,
            where=f"{where} headers",
            placeholders=inputs,
            as_text=True,
        )
        headers.update({str(k): str(v) for k, v in declared.items()})
        method = http.method.upper()
        body: Any = None
        query: dict[str, str] = {}
        if method in ("GET", "HEAD", "DELETE"):
            query = {k: _path_value(v) for k, v in inputs.items() if k not in consumed}
        elif http.body is not None:
            body = interpolate(http.body, context, placeholders=inputs)
        else:
            body = {k: v for k, v in inputs.items() if k not in consumed}
        call = HttpCall(
            method=method,
            url=str(url),
            headers=headers,
            query=query,
            json=body,
            timeout_s=http.timeout_ms / 1000,
        )
        result = await self._send_request(call, definition.id)
        if not result.ok:
            raise _Abort(
                f"request {definition.id} ({method} {url}) returned HTTP {result.status}: {_excerpt(result.body)}"
            )
        output = clean(result.body)
        if step.variable:
            self.var[step.variable] = output
        record = {
            "output": output,
            "status": result.status,
            "latencyMs": round(result.latency_ms, 1),
        }
        if pre:
            # preSteps.<name>.output, as the newer lamdis keys them (name, else id).
            self.pre_steps[step.name or step.id or f"pre_step_{index}"] = record
        else:
            self.steps[step.id or step.variable or f"step{index}"] = record
            if step.name and step.name != step.id:
                self.steps[step.name] = record
        self.last["request"] = output
        self.log.append(
            f"request {definition.id}: {method} {redact_url(str(url))} -> {result.status} in {result.latency_ms:.0f} ms"
        )

    async def _send_request(self, call: HttpCall, request_id: str) -> HttpResult:
        attempt = 0
        while True:
            self._check_stop()
            try:
                return await self.requester.send(call)
            except RequestError as exc:
                if not exc.retryable or attempt >= self.retry.retries:
                    raise _Abort(f"request {request_id} failed: {exc}") from exc
                delay = self.retry.delay(attempt + 1)
                self.log.append(
                    f"request {request_id} attempt {attempt + 1} failed ({exc}); retrying"
                )
                await self._back_off(delay)
                attempt += 1


def _path_value(value: Any) -> str:
    return to_text(value)


def _excerpt(body: Any, limit: int = 200) -> str:
    text = to_text(body)
    return text if len(text) <= limit else text[:limit] + "…"
