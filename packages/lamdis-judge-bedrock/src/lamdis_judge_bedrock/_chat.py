"""One Converse call through aioboto3's bedrock-runtime client, errors mapped to ProviderError."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

# aioboto3 and botocore ship no type information (types-aiobotocore is a separate, heavy
# stub package); the untyped surface is kept to this module.
import aioboto3  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from lamdis_core.domain.results import Usage
from lamdis_core.llm import (
    ChatMessage,
    Completion,
    ProviderError,
    is_retryable_status,
)
from lamdis_core.logs import get_logger
from lamdis_core.retry import parse_retry_after

from lamdis_judge_bedrock._settings import BedrockSettings

logger = get_logger()

# Error codes worth another attempt whatever their HTTP status says.
_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeoutException",
    }
)
# botocore's socket timeouts are a backstop: CallPolicy / the target cancel first.
_READ_TIMEOUT_S = 300
_CONNECT_TIMEOUT_S = 10


def converse_messages(
    messages: Sequence[ChatMessage],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system, messages)`` in Converse's shape.

    Converse wants the conversation to start with a user turn and alternate strictly, so
    consecutive turns of one role are merged, and an opening assistant turn is preceded by a
    short user turn that says the assistant spoke first.
    """
    system = [{"text": m.content} for m in messages if m.role == "system" and m.content]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system" or not message.content:
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"][0]["text"] += "\n\n" + message.content
        else:
            turns.append({"role": role, "content": [{"text": message.content}]})
    if turns and turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": [{"text": "(The assistant speaks first.)"}]})
    return system, turns


def fold_system(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages with the system texts moved to the front of the first user message."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    rest = [m for m in messages if m.role != "system"]
    if not system:
        return rest
    for i, message in enumerate(rest):
        if message.role == "user":
            rest[i] = ChatMessage(role="user", content=f"{system}\n\n{message.content}")
            return rest
    return [ChatMessage(role="user", content=system), *rest]


def _refuses_system(error: ProviderError) -> bool:
    text = str(error).lower()
    return error.status == 400 and "validationexception" in text and "system" in text


class BedrockChatModel:
    """The :class:`~lamdis_core.llm.ChatModel` for Bedrock Runtime's Converse API.

    The client is opened on first use (inside the running loop) and closed by :meth:`aclose`.
    botocore's retries are off (``total_max_attempts=1``): ``CallPolicy`` owns retries.
    """

    provider = "bedrock"

    def __init__(self, settings: BedrockSettings, *, max_tokens: int | None = None) -> None:
        self.settings = settings
        self.max_tokens = max_tokens
        self._session = aioboto3.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            aws_session_token=settings.session_token,
            region_name=settings.region,
            profile_name=settings.profile,
        )
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()
        self.no_system_models: set[str] = set()

    async def _get_client(self) -> Any:
        async with self._lock:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                config = Config(
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    read_timeout=_READ_TIMEOUT_S,
                    connect_timeout=_CONNECT_TIMEOUT_S,
                    max_pool_connections=32,
                )
                self._client = await stack.enter_async_context(
                    self._session.client(
                        "bedrock-runtime",
                        region_name=self.settings.region,
                        endpoint_url=self.settings.endpoint_url,
                        config=config,
                    )
                )
                self._stack = stack
            return self._client

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str,
        temperature: float | None,
        json_mode: bool,
        request_timeout: float,
    ) -> Completion:
        # Converse has no JSON mode; the prompts ask for JSON and the parser is tolerant.
        del json_mode, request_timeout
        fold = model in self.no_system_models
        system, turns = converse_messages(fold_system(messages) if fold else messages)
        kwargs: dict[str, Any] = {"modelId": model, "messages": turns}
        if system:
            kwargs["system"] = system
        inference: dict[str, Any] = {}
        if temperature is not None:
            inference["temperature"] = temperature
        if self.max_tokens is not None:
            inference["maxTokens"] = self.max_tokens
        if inference:
            kwargs["inferenceConfig"] = inference
        try:
            response = await self._converse(kwargs)
        except ProviderError as exc:
            if not (system and _refuses_system(exc)):
                raise
            # Some models (Mistral 7B, Titan Text...) take no system block: fold it into the
            # first user turn, and remember the model so later calls do so directly.
            logger.warning("llm_param_refused", model=model, param="system")
            self.no_system_models.add(model)
            _, kwargs["messages"] = converse_messages(fold_system(messages))
            del kwargs["system"]
            response = await self._converse(kwargs)
        return self._completion(response, model)

    async def _converse(self, kwargs: dict[str, Any]) -> Any:
        client = await self._get_client()
        try:
            return await client.converse(**kwargs)
        except botocore.exceptions.ClientError as exc:
            raise _client_error(exc) from exc
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            raise ProviderError(
                f"cannot reach Bedrock ({self._where()}): {exc}", retryable=True
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            # Missing credentials, invalid parameters: repeating will not help.
            raise ProviderError(f"Bedrock call failed: {exc}") from exc

    def _completion(self, response: Any, model: str) -> Completion:
        output = response.get("output")
        if not isinstance(output, dict):
            # botocore turns a body it cannot parse (an HTML page from a proxy) into an empty
            # result instead of failing; without "output" there is no answer to read.
            headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            raise ProviderError(
                f"Bedrock ({self._where()}) answered a body that is not Converse JSON "
                f"(content-type {headers.get('content-type', 'unknown')})"
            )
        message = output.get("message", {})
        text = "".join(
            block.get("text", "") for block in message.get("content", []) if isinstance(block, dict)
        )
        raw_usage = response.get("usage") or {}
        prompt_tokens = int(raw_usage.get("inputTokens", 0))
        completion_tokens = int(raw_usage.get("outputTokens", 0))
        usage = Usage(
            calls=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            tokens=int(raw_usage.get("totalTokens", prompt_tokens + completion_tokens)),
        )
        return Completion(text=text, model=model, usage=usage, raw=response)

    def _where(self) -> str:
        return self.settings.endpoint_url or f"region {self.settings.region}"

    async def aclose(self) -> None:
        async with self._lock:
            stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def _client_error(exc: botocore.exceptions.ClientError) -> ProviderError:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code", "Unknown"))
    status = meta.get("HTTPStatusCode")
    headers = meta.get("HTTPHeaders", {}) or {}
    retryable = code in _RETRYABLE_CODES or is_retryable_status(status)
    return ProviderError(
        f"Bedrock answered {code} (HTTP {status}): {error.get('Message', '')}".rstrip(": "),
        retryable=retryable,
        retry_after=parse_retry_after(headers.get("retry-after")),
        status=status,
    )
