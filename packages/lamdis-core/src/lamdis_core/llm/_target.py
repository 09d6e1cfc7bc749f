"""What the model-backed chat targets (``openai_chat``, ``bedrock_chat``) share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lamdis_core.config.interpolation import interpolate_env
from lamdis_core.domain.config import Assistant
from lamdis_core.domain.errors import ConfigError, ConfigProblem, InterpolationError, TargetError
from lamdis_core.llm._types import ChatMessage, Completion, ProviderError
from lamdis_core.ports.target import TurnReply, TurnRequest

# The Target port's retryable set: the target is the system under test, so a 500 is a
# finding to report, not a blip to paper over.
TARGET_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

_ROLES = {"user", "assistant", "system"}


def turn_messages(turn: TurnRequest, *, system_prompt: str | None) -> list[ChatMessage]:
    """The chat messages for one turn: system prompt, ``turn.system``, persona, transcript, and
    the message.

    The persona goes in as a system message ("About the user: ..."), as ``http_chat`` sends it
    to the assistant in its ``persona`` field.

    Transcript entries with another role (a tool, say) or without text are left out: a
    chat-completions model only takes these three roles.
    """
    messages: list[ChatMessage] = []
    if system_prompt:
        messages.append(ChatMessage(role="system", content=system_prompt))
    messages.extend(ChatMessage(role="system", content=text) for text in turn.system if text)
    if turn.persona:
        messages.append(ChatMessage(role="system", content=f"About the user: {turn.persona}"))
    for entry in turn.transcript:
        role = str(entry.get("role", ""))
        content = entry.get("content")
        if role in _ROLES and isinstance(content, str) and content:
            messages.append(ChatMessage(role=role, content=content))
    messages.append(ChatMessage(role="user", content=turn.message))
    return messages


def target_error(exc: ProviderError, *, channel: str, assistant: str) -> TargetError:
    """The port's :class:`TargetError` for a failed model call."""
    retryable = exc.retryable and (exc.status is None or exc.status in TARGET_RETRYABLE_STATUSES)
    return TargetError(
        f"{channel} assistant {assistant!r}: {exc}",
        retryable=retryable,
        retry_after=exc.retry_after,
        status=exc.status,
    )


def assistant_headers(assistant: Assistant, env: Mapping[str, str]) -> dict[str, str]:
    """``env.headers`` of the assistant with ``${NAME}`` read from ``env``.

    Raises:
        ConfigError: a header names a variable that is not set.
    """
    try:
        headers: Any = interpolate_env(
            dict(assistant.env.headers),
            env,
            strict=True,
            where=f"assistant {assistant.id} env.headers",
        )
    except InterpolationError as exc:
        raise ConfigError(
            [ConfigProblem(file=None, message=str(exc), json_path="$.env.headers")]
        ) from exc
    return {str(k): str(v) for k, v in headers.items()}


async def model_turn(
    call: Callable[[], Awaitable[Completion]],
    *,
    channel: str,
    assistant: str,
    timeout_s: float,
    raw: Callable[[Completion], Any],
) -> TurnReply:
    """One turn of a model-backed target: ``call`` under the turn's timeout, its failures as
    the port's :class:`TargetError`, latency measured, an empty reply refused.

    Args:
        call: makes the model request (the adapter's SDK call).
        raw: what of the completion to keep as the reply's raw payload.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            completion = await call()
    except TimeoutError:
        raise TargetError(
            f"{channel} assistant {assistant!r}: no reply within {timeout_s:g}s", retryable=True
        ) from None
    except ProviderError as exc:
        raise target_error(exc, channel=channel, assistant=assistant) from exc
    latency_ms = (time.perf_counter() - started) * 1000
    text = completion.text.strip()
    if not text and not completion.tool_calls:
        raise TargetError(f"{channel} assistant {assistant!r}: the model returned an empty reply")
    return TurnReply(
        text=text,
        latency_ms=latency_ms,
        raw=raw(completion),
        tokens=completion.usage.tokens,
        tool_calls=list(completion.tool_calls),
        ttft_ms=completion.ttft_ms,
        chunks=completion.chunks,
    )
