"""Provider-neutral LLM machinery shared by the judge adapters.

An adapter supplies a :class:`ChatModel` (one SDK call, its errors mapped to
:class:`ProviderError`); :class:`LLMJudge` adds the prompts, tolerant parsing, the one repair
retry, caching and verdict rules, and :class:`CallPolicy` the concurrency limit, timeout and
retries. Nothing here imports an SDK.

A new provider is one class and a factory::

    class AcmeChatModel:
        provider = "acme"

        async def complete(self, messages, *, model, temperature, json_mode, request_timeout):
            try:
                answer = await acme_sdk.chat(model=model, messages=[...], retries=0)
            except acme_sdk.RateLimited as exc:
                raise ProviderError(str(exc), retryable=True, retry_after=exc.wait, status=429)
            return Completion(text=answer.text, model=model, usage=Usage(calls=1, ...))

        async def aclose(self): ...

    def create_judge(env, *, cache=None):
        return LLMJudge(AcmeChatModel(), model=env.get("ACME_MODEL", "small"),
                        policy=CallPolicy.from_env(env), cache=cache)
"""

from lamdis_core.llm._cache import (
    CachedCompletion,
    DiskResponseCache,
    MemoryResponseCache,
    ResponseCache,
    cache_key,
)
from lamdis_core.llm._judge import LLMJudge
from lamdis_core.llm._parse import (
    OutputParseError,
    extract_json_object,
    parse_extraction,
    parse_opening,
    parse_verdict,
    read_score,
)
from lamdis_core.llm._policy import (
    CallPolicy,
    retry_after_from_headers,
)
from lamdis_core.llm._prompts import (
    extract_messages,
    judge_messages,
    opening_messages,
    render_transcript,
)
from lamdis_core.llm._target import (
    TARGET_RETRYABLE_STATUSES,
    assistant_headers,
    model_turn,
    target_error,
    turn_messages,
)
from lamdis_core.llm._types import (
    ChatMessage,
    ChatModel,
    Completion,
    ProviderError,
    is_retryable_status,
)

__all__ = [
    "TARGET_RETRYABLE_STATUSES",
    "CachedCompletion",
    "CallPolicy",
    "ChatMessage",
    "ChatModel",
    "Completion",
    "DiskResponseCache",
    "LLMJudge",
    "MemoryResponseCache",
    "OutputParseError",
    "ProviderError",
    "ResponseCache",
    "assistant_headers",
    "cache_key",
    "extract_json_object",
    "extract_messages",
    "is_retryable_status",
    "judge_messages",
    "model_turn",
    "opening_messages",
    "parse_extraction",
    "parse_opening",
    "parse_verdict",
    "read_score",
    "render_transcript",
    "retry_after_from_headers",
    "target_error",
    "turn_messages",
]
