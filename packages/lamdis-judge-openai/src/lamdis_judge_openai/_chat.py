"""One Chat Completions call through the ``openai`` SDK, its errors mapped to ProviderError."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import openai
from lamdis_core.domain.results import Usage
from lamdis_core.llm import (
    ChatMessage,
    Completion,
    ProviderError,
    is_retryable_status,
    retry_after_from_headers,
)
from lamdis_core.logs import get_logger
from lamdis_core.tool_calls import to_tool_call
from lamdis_core.tracing import record_http
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

# Optional request parameters some models refuse with a 400 (reasoning models take only
# their default temperature; some compatible servers have no JSON mode). When a model refuses
# one, the call is repeated once without it and the model is remembered, so a judge
# configured for temperature 0 still works on such a model instead of failing every check.
_DROPPABLE = ("temperature", "response_format", "stream_options")

logger = get_logger()

# The SDK's own timeout is a backstop behind CallPolicy's (which cancels first), so a call
# can never hang past it even when used without a policy.
_SDK_TIMEOUT_MARGIN_S = 5.0


class OpenAIChatModel:
    """The :class:`~lamdis_core.llm.ChatModel` for OpenAI and OpenAI-compatible servers.

    The client is built with ``max_retries=0``: retries belong to ``CallPolicy`` (judge) or to
    the engine (target), never to the SDK.
    """

    provider = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.refused: dict[str, set[str]] = {}
        self._client = AsyncOpenAI(
            # A compatible server without auth still needs *a* key for the SDK to start.
            api_key=api_key or "unused",
            base_url=base_url,
            max_retries=0,
            default_headers=dict(default_headers) if default_headers else None,
        )

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str,
        temperature: float | None,
        json_mode: bool,
        request_timeout: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Completion:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "timeout": request_timeout + _SDK_TIMEOUT_MARGIN_S,
        }
        if temperature is not None:
            kwargs["temperature"] = temperature
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if extra_headers:
            kwargs["extra_headers"] = dict(extra_headers)
        refused = self.refused.setdefault(model, set())
        for known in refused:
            kwargs.pop(known, None)
        try:
            response = await self._client.chat.completions.create(**kwargs)
        except openai.BadRequestError as exc:
            param = _refused_param(exc, kwargs)
            if param is None:
                raise self._error(exc) from exc
            logger.warning("llm_param_refused", model=model, param=param, base_url=self.base_url)
            refused.add(param)
            kwargs.pop(param)
            response = await self._create(kwargs)
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        if not isinstance(response, ChatCompletion):
            # The SDK hands back the body as text when it is not JSON (an HTML error page
            # from a proxy, say); repeating the call is unlikely to change that.
            raise ProviderError(
                f"OpenAI at {self.base_url} answered a body that is not Chat Completions JSON: "
                f"{str(response)[:200]!r}"
            )
        if not response.choices:
            raise ProviderError("OpenAI returned no choices", retryable=True)
        text = response.choices[0].message.content or ""
        usage = Usage(calls=1)
        if response.usage is not None:
            usage = Usage(
                calls=1,
                tokens=response.usage.total_tokens,
                prompt_tokens=response.usage.prompt_tokens,
                completion_tokens=response.usage.completion_tokens,
            )
        return Completion(text=text, model=response.model or model, usage=usage, raw=response)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str,
        temperature: float | None,
        request_timeout: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Completion:
        """One streamed Chat Completions call (``stream: true``), assembled: the text, streamed
        tool calls, usage when the server reports it, time to the first content chunk and the
        number of content chunks. ``raw`` is the assembled ``chat.completion``.

        Raises:
            ProviderError: as :meth:`complete`; also an answer that is not an event stream.
        """
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "timeout": request_timeout + _SDK_TIMEOUT_MARGIN_S,
            "stream": True,
            # Usage comes in a last chunk only when asked; servers that refuse it get a retry
            # without (see _DROPPABLE).
            "stream_options": {"include_usage": True},
        }
        if temperature is not None:
            kwargs["temperature"] = temperature
        if extra_headers:
            kwargs["extra_headers"] = dict(extra_headers)
        refused = self.refused.setdefault(model, set())
        for known in refused:
            kwargs.pop(known, None)
        started = time.perf_counter()
        try:
            stream = await self._client.chat.completions.create(**kwargs)
        except openai.BadRequestError as exc:
            param = _refused_param(exc, kwargs)
            if param is None:
                raise self._error(exc) from exc
            logger.warning("llm_param_refused", model=model, param=param, base_url=self.base_url)
            refused.add(param)
            kwargs.pop(param)
            stream = await self._create(kwargs)
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        response = getattr(stream, "response", None)
        _describe_turn(response)
        content_type = response.headers.get("content-type", "") if response is not None else ""
        if "text/event-stream" not in content_type:
            body = ""
            if response is not None:
                raw_body = await response.aread()
                body = raw_body[:200].decode("utf-8", errors="replace")
                await response.aclose()
            raise ProviderError(
                f"OpenAI at {self.base_url} answered {content_type or 'no content-type'}, not a "
                f"stream of Chat Completions JSON chunks: {body!r}"
            )
        parts: list[str] = []
        deltas: dict[int, dict[str, str]] = {}
        ttft_ms: float | None = None
        usage = Usage(calls=1)
        reported = model
        try:
            async for chunk in stream:
                reported = chunk.model or reported
                if chunk.usage is not None:
                    usage = Usage(
                        calls=1,
                        tokens=chunk.usage.total_tokens,
                        prompt_tokens=chunk.usage.prompt_tokens,
                        completion_tokens=chunk.usage.completion_tokens,
                    )
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        if ttft_ms is None:
                            ttft_ms = (time.perf_counter() - started) * 1000
                        parts.append(delta.content)
                    for call in delta.tool_calls or []:
                        held = deltas.setdefault(
                            call.index, {"id": "", "name": "", "arguments": ""}
                        )
                        held["id"] = call.id or held["id"]
                        if call.function is not None:
                            held["name"] += call.function.name or ""
                            held["arguments"] += call.function.arguments or ""
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        assembled = (
            to_tool_call({"id": h["id"], "function": h}) for _, h in sorted(deltas.items())
        )
        tool_calls = [call for call in assembled if call is not None]
        text = "".join(parts)
        raw = {
            "object": "chat.completion",
            "model": reported,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text,
                        **({"tool_calls": list(deltas.values())} if deltas else {}),
                    },
                }
            ],
            "usage": {"total_tokens": usage.tokens},
            "chunks": len(parts),
        }
        return Completion(
            text=text,
            model=reported,
            usage=usage,
            raw=raw,
            ttft_ms=ttft_ms,
            chunks=len(parts),
            tool_calls=tool_calls,
        )

    async def _create(self, kwargs: dict[str, Any]) -> Any:
        try:
            return await self._client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: openai.OpenAIError) -> ProviderError:
        """The ProviderError for an SDK exception."""
        if isinstance(exc, openai.APIStatusError):
            _describe_turn(exc.response)
            status = exc.status_code
            return ProviderError(
                f"OpenAI answered HTTP {status}: {exc.message}",
                retryable=is_retryable_status(status),
                retry_after=retry_after_from_headers(exc.response.headers),
                status=status,
            )
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError(f"OpenAI at {self.base_url} timed out", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(f"cannot reach OpenAI at {self.base_url}: {exc}", retryable=True)
        # Anything else the SDK raises (an unreadable body, say): not worth repeating.
        return ProviderError(f"OpenAI call failed: {exc}")

    async def aclose(self) -> None:
        await self._client.close()


def _describe_turn(response: Any) -> None:
    """The HTTP client attributes of the request the SDK made, on the span of the turn being
    sent (an ``openai_chat`` turn); a no-op elsewhere, since judge calls never run inside a
    turn. A parameter the model refused is retried within the turn: the retry is described.
    ``response`` is the SDK's HTTP response (its HTTP library's type), or ``None``."""
    if response is not None:
        record_http(response.request.method, str(response.request.url), response.status_code)


def _refused_param(exc: openai.BadRequestError, kwargs: Mapping[str, Any]) -> str | None:
    """The optional parameter a 400 says the model does not support, if it names one we sent."""
    text = str(exc.message).lower()
    for param in _DROPPABLE:
        if param in kwargs and (exc.param == param or param in text):
            return param
    return None
