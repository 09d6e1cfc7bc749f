"""OpenTelemetry spans for a run, its tests, their turns and the judge's model calls.

Spans go through the OpenTelemetry API only; what receives them is the application's choice
(``lamdis run`` and ``lamdis serve`` install an OTLP exporter when ``OTEL_*`` variables ask
for one). The API is not imported here until the application has imported it: a run that
nobody traces pays one dictionary look-up per span, and ``import lamdis_core`` stays cheap.

Each test execution is a trace of its own whose id is the conversation id the assistant
receives in ``traceparent``, so the assistant's own spans land in the test's trace. The run
is a span of its own; every test span links to it. Attributes follow the OpenTelemetry
semantic conventions (``gen_ai.*`` for judge calls, ``http.*``/``url.*`` for turns) and never
hold credentials: URLs lose their query and user info, and every text goes through the run's
secret masker (:func:`mask_with`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from lamdis_core.domain.results import Item
    from lamdis_core.masking import SecretMasker

TRACER_NAME = "lamdis"
_TEXT_LIMIT = 1000
"""Characters kept of a failure text in a span attribute (a judge's reasoning can be long)."""

GEN_AI_PROVIDERS = {"openai": "openai", "bedrock": "aws.bedrock"}
"""Judge name prefixes and the ``gen_ai.provider.name`` values the conventions define."""


def _api() -> Any:
    """``opentelemetry.trace`` when the application imported it, else ``None``."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    return trace


def enabled() -> bool:
    """Whether spans may be recorded (some code imported the OpenTelemetry API)."""
    return _api() is not None


class SpanHandle:
    """One span, or nothing when tracing is off; every method is then a no-op."""

    __slots__ = ("span",)

    def __init__(self, span: Span | None) -> None:
        self.span = span

    @property
    def recording(self) -> bool:
        return self.span is not None and self.span.is_recording()

    def trace_id(self) -> str | None:
        """The span's trace id as 32 lowercase hex digits, when it has a valid one."""
        if self.span is None:
            return None
        context = self.span.get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid else None

    def set(self, attributes: Mapping[str, Any]) -> None:
        if self.recording:
            assert self.span is not None
            self.span.set_attributes(
                {k: _masked(v) for k, v in attributes.items() if v is not None}
            )

    def fail(self, description: str) -> None:
        if self.recording:
            from opentelemetry.trace import Status, StatusCode

            assert self.span is not None
            self.span.set_status(Status(StatusCode.ERROR, _masked(description[:_TEXT_LIMIT])))

    def ok(self) -> None:
        if self.recording:
            from opentelemetry.trace import Status, StatusCode

            assert self.span is not None
            self.span.set_status(Status(StatusCode.OK))

    def end(self) -> None:
        """Ends a span from :func:`start_run` (spans from context managers end on exit)."""
        if self.span is not None:
            self.span.end()

    def finish_run(self, *, status: str, totals: Mapping[str, int]) -> None:
        """The run's outcome, on the run span, which it ends."""
        self.set({"lamdis.run.status": status})
        self.set({f"lamdis.run.{name}": count for name, count in totals.items()})
        if status == "failed":
            self.fail("some tests failed")
        self.end()

    def finish_test(self, item: Item) -> None:
        """The test's status, and the failing check with its reason, from the masked item."""
        if not self.recording:
            return
        from lamdis_core.domain.results import ItemStatus
        from lamdis_core.reports.summary import check_label, failure_text

        failing = item.first_failure
        self.set(
            {
                "lamdis.test.status": item.status.value,
                "lamdis.test.failed_check": check_label(failing) if failing else None,
                "lamdis.test.judge_score": item.judge_score,
                "lamdis.test.turns": len(item.timings.per_turn_ms),
            }
        )
        text = failure_text(item)
        if text:
            self.set({"lamdis.test.failure": text[:_TEXT_LIMIT]})
        if item.status in (ItemStatus.FAILED, ItemStatus.ERROR):
            self.fail(text or item.status.value)
        elif item.status is ItemStatus.PASSED:
            self.ok()


_OFF = SpanHandle(None)
_TURN: ContextVar[SpanHandle | None] = ContextVar("lamdis_turn_span", default=None)
_MASKER: ContextVar[SecretMasker | None] = ContextVar("lamdis_span_masker", default=None)


def mask_with(masker: SecretMasker) -> None:
    """Texts put on spans in the current task from now on are masked with ``masker`` (the
    run's: credentials of the environment and the assistants' headers, OAuth tokens)."""
    _MASKER.set(masker)


def _masked(value: Any) -> Any:
    masker = _MASKER.get()
    return masker.mask(value) if masker is not None and isinstance(value, str) else value


_RUN_ATTRIBUTES: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "lamdis_run_attributes", default=None
)


def describe_run(attributes: Mapping[str, Any]) -> None:
    """Attributes for the run spans the current task starts from now on (the hosted worker
    names its run: ``lamdis.run.id``...). A task's context is its own, so no reset is needed
    when the task does one run."""
    _RUN_ATTRIBUTES.set({**(_RUN_ATTRIBUTES.get() or {}), **attributes})


@contextmanager
def _started(
    name: str,
    *,
    kind: str = "INTERNAL",
    attributes: Mapping[str, Any] | None = None,
    root: bool = False,
    link: SpanHandle | None = None,
) -> Iterator[SpanHandle]:
    trace = _api()
    if trace is None:
        yield _OFF
        return
    from opentelemetry.context import Context

    links = []
    if link is not None and link.span is not None and link.span.get_span_context().is_valid:
        links.append(trace.Link(link.span.get_span_context()))
    span = trace.get_tracer(TRACER_NAME).start_span(
        name,
        # A root span starts a trace of its own: one per test execution.
        context=Context() if root else None,
        kind=trace.SpanKind[kind],
        attributes={k: v for k, v in (attributes or {}).items() if v is not None},
        links=links,
    )
    handle = SpanHandle(span)
    # An exception is recorded by its type only: its message may quote what the assistant
    # said or a URL with credentials.
    with trace.use_span(
        span, end_on_exit=True, record_exception=False, set_status_on_exception=False
    ):
        try:
            yield handle
        except Exception as exc:
            status = getattr(exc, "status", None)
            handle.set({"error.type": str(status) if status else type(exc).__name__})
            handle.fail(type(exc).__name__)
            raise


def start_run(attributes: Mapping[str, Any]) -> SpanHandle:
    """The span of one engine run (``lamdis run``, or one suite of a hosted run), started
    but not made current: test spans start traces of their own and link to it. End it with
    :meth:`SpanHandle.finish_run` (or :meth:`SpanHandle.end` when the run did not finish)."""
    trace = _api()
    if trace is None:
        return _OFF
    merged = {**(_RUN_ATTRIBUTES.get() or {}), **attributes}
    return SpanHandle(
        trace.get_tracer(TRACER_NAME).start_span(
            "lamdis run", attributes={k: v for k, v in merged.items() if v is not None}
        )
    )


def execution_span(
    *, test_id: str, test_name: str, assistant: str, repeat: int, run: SpanHandle
) -> Any:
    """The root span of one test execution, linked to ``run``; its trace id is the
    conversation id (see :func:`current_trace_id`)."""
    return _started(
        f"lamdis test {test_id}",
        root=True,
        link=run,
        attributes={
            "lamdis.test.id": test_id,
            "lamdis.test.name": test_name,
            "lamdis.assistant.id": assistant,
            "lamdis.test.repeat": repeat,
        },
    )


@contextmanager
def turn_span(turn: int) -> Iterator[SpanHandle]:
    """The span of one user turn (an HTTP client call to the assistant, with its retries);
    :func:`record_http` describes its requests."""
    with _started(f"lamdis turn {turn}", kind="CLIENT", attributes={"lamdis.turn": turn}) as span:
        token = _TURN.set(span)
        try:
            yield span
        finally:
            _TURN.reset(token)


def judge_span(judge_name: str, operation: str) -> Any:
    """The span of one judge call, named and described by the GenAI conventions."""
    provider, _, model = judge_name.partition(":")
    model = model or provider
    return _started(
        f"chat {model}",
        kind="CLIENT",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": GEN_AI_PROVIDERS.get(provider, provider),
            # The older name, still what several trace viewers read.
            "gen_ai.system": GEN_AI_PROVIDERS.get(provider, provider),
            "gen_ai.request.model": model,
            "lamdis.judge.operation": operation,
        },
    )


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), if a span is being traced."""
    trace = _api()
    if trace is None:
        return None
    return SpanHandle(trace.get_current_span()).trace_id()


def traceparent_for(trace_id: str) -> str | None:
    """The W3C ``traceparent`` naming the current span as the parent, when that span is in
    the trace ``trace_id`` (the conversation's); ``None`` otherwise."""
    trace = _api()
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or f"{context.trace_id:032x}" != trace_id:
        return None
    # Only the sampled flag: W3C level 1 parsers reject the others.
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags) & 1:02x}"


def record_http(method: str, url: str, status: int | None = None) -> None:
    """HTTP client attributes of the request a turn made, on the turn's span (requests made
    outside a turn, such as closing a session, are not described)."""
    span = _TURN.get()
    if span is None or not span.recording:
        return
    parts = urlsplit(url)
    span.set(
        {
            "http.request.method": method.upper(),
            "url.full": span_url(url),
            "server.address": parts.hostname,
            "server.port": parts.port,
            "http.response.status_code": status,
        }
    )
    if status is not None and status >= 400:
        span.set({"error.type": str(status)})


def span_url(url: str) -> str:
    """``url`` without user info, query or fragment: they may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
