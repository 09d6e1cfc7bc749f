"""One Chat Completions call through the ``openai`` SDK, its errors mapped to ProviderError."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import openai
import structlog
from lamdis_core.domain.results import Usage
from lamdis_core.llm import (
    ChatMessage,
    Completion,
    ProviderError,
    is_retryable_status,
    retry_after_from_headers,
)
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

# Optional request parameters some models refuse with a 400 (reasoning models take only
# their default temperature; some compatible servers have no JSON mode). When a model refuses
# one, the call is repeated once without it and the model is remembered, so a judge
# configured for temperature 0 still works on such a model instead of failing every check.
_DROPPABLE = ("temperature", "response_format")

logger = structlog.get_logger()

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

    async def _create(self, kwargs: dict[str, Any]) -> Any:
        try:
            return await self._client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: openai.OpenAIError) -> ProviderError:
        """The ProviderError for an SDK exception."""
        if isinstance(exc, openai.APIStatusError):
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


def _refused_param(exc: openai.BadRequestError, kwargs: Mapping[str, Any]) -> str | None:
    """The optional parameter a 400 says the model does not support, if it names one we sent."""
    text = str(exc.message).lower()
    for param in _DROPPABLE:
        if param in kwargs and (exc.param == param or param in text):
            return param
    return None
