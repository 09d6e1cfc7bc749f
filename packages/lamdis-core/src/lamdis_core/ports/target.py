"""The Target port: the assistant under test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import attrs

from lamdis_core.domain.config import Assistant


@attrs.frozen(kw_only=True)
class TurnRequest:
    """One user turn. ``transcript`` is the conversation so far, without ``message``."""

    message: str
    transcript: list[dict[str, Any]]
    persona: str | None = None
    persona_id: str | None = None
    system: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class TurnReply:
    text: str
    latency_ms: float
    raw: Any = None
    tokens: int = 0


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
