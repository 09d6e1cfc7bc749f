"""The Target port: the assistant under test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from lamdis_core.domain.base import Value
from lamdis_core.domain.config import Assistant
from lamdis_core.tracing import traceparent_for


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TurnRequest(Value):
    """One user turn. ``transcript`` is the conversation so far, without ``message``.

    ``conversation_id`` is the same for every turn of one test execution (32 lowercase hex
    digits, also its W3C trace id); ``turn`` counts user turns from 1; ``variables`` are the
    run variables (``var``) at the time of the turn.

    ``extra``: fields a test adds to what is sent (``assistantInputMappings``, already
    interpolated); ``reply_path``: where this turn's reply is, overriding the assistant's.
    Channels whose wire format has no room for them ignore both.
    """

    message: str
    transcript: list[dict[str, Any]]
    persona: str | None = None
    persona_id: str | None = None
    system: list[str] = attrs.Factory(list)
    conversation_id: str = ""
    turn: int = 1
    variables: Mapping[str, Any] = attrs.Factory(dict)
    extra: dict[str, Any] = attrs.Factory(dict)
    reply_path: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ToolCall(Value):
    """A tool (function) call the assistant made while answering; ``arguments`` is the
    decoded JSON (or the raw text when it was not JSON)."""

    name: str
    arguments: Any = None
    id: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TurnReply(Value):
    """The answer to one turn. Streaming channels also set ``ttft_ms`` (time to the first
    content chunk or frame) and ``chunks``."""

    text: str
    latency_ms: float
    raw: Any = None
    tokens: int = 0
    tool_calls: list[ToolCall] = attrs.Factory(list)
    ttft_ms: float | None = None
    chunks: int | None = None


AuthHeaders = Callable[[], Awaitable[Mapping[str, str]]]
"""Returns the auth headers to send (fetching or refreshing an OAuth token if need be)."""


class Target(Protocol):
    """An assistant that answers user turns.

    ``send`` returns the reply text. It raises :class:`~lamdis_core.domain.errors.TargetError`
    when there is no usable reply: a connection error, timeout, non-2xx status, a body that is
    not what the channel promises, or a missing/empty reply. It sets ``retryable`` for
    connection errors, timeouts, 429 and 502-504 (and ``retry_after`` when the target said).
    It never retries by itself: the engine owns retries, so policy lives in one place.
    """

    async def send(self, turn: TurnRequest) -> TurnReply: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ConversationalTarget(Protocol):
    """A Target that holds state per conversation (a session, cookies, a socket).

    The engine calls ``end_conversation`` once after a test execution's last turn, whatever
    its outcome; it never raises (a failed closing request is logged).
    """

    async def end_conversation(self, conversation_id: str) -> None: ...


class TargetFactory(Protocol):
    """Builds Targets for one channel (``http_chat``, ``openai_chat``, ``bedrock_chat``).

    ``create`` is called once per assistant per run; targets may share connection pools.
    It raises ``ConfigError`` when the assistant lacks what the channel needs (a base URL).
    ``aclose`` releases whatever the factory pooled.
    """

    channel: str

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> Target: ...

    async def aclose(self) -> None: ...


def traceparent(conversation_id: str, span_id: str) -> str:
    """The W3C ``traceparent`` header of one turn: the conversation is the trace, the turn a
    span (``span_id``: 16 hex digits), sampled. When the run is traced, the turn's own span
    (:mod:`lamdis_core.tracing`) is the parent it names, so the assistant's spans nest there."""
    return traceparent_for(conversation_id) or f"00-{conversation_id}-{span_id}-01"
