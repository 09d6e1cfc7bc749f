"""What a provider adapter translates to and from: chat messages, completions, failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from lamdis_core.domain.results import Usage
from lamdis_core.ports.target import ToolCall


@attrs.frozen(kw_only=True)
class ChatMessage:
    """One message of a chat request. ``role`` is ``system``, ``user`` or ``assistant``."""

    role: str
    content: str


@attrs.frozen(kw_only=True)
class Completion:
    """A model's answer: its text, the model id the provider reported, and the tokens used.

    A streamed answer also has ``ttft_ms`` (time to its first content chunk) and ``chunks``;
    ``tool_calls`` are the tools the model called.
    """

    text: str
    model: str
    usage: Usage = attrs.Factory(Usage)
    raw: object = None
    ttft_ms: float | None = None
    chunks: int | None = None
    tool_calls: list[ToolCall] = attrs.Factory(list)


class ProviderError(Exception):
    """A provider call failed. Adapters raise it in place of their SDK's exceptions.

    Attributes:
        retryable: a later attempt may succeed (429, 5xx, timeout, connection refused).
        retry_after: seconds the provider asked us to wait, when it said.
        status: the HTTP status, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class ChatModel(Protocol):
    """A provider's chat endpoint, seen through one SDK.

    ``complete`` sends the messages once (no retries: :class:`~lamdis_core.llm.CallPolicy`
    owns them) and returns the completion, or raises :class:`ProviderError`.
    """

    provider: str

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str,
        temperature: float | None,
        json_mode: bool,
        request_timeout: float,
    ) -> Completion: ...

    async def aclose(self) -> None: ...


def is_retryable_status(status: int | None) -> bool:
    """429 and every 5xx are worth another attempt; other 4xx are our fault and are not."""
    return status is not None and (status == 429 or 500 <= status <= 599)
