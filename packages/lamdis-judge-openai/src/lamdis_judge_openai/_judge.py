"""The OpenAI judge: :class:`~lamdis_core.llm.LLMJudge` over Chat Completions in JSON mode."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.llm import CallPolicy, LLMJudge, ResponseCache
from lamdis_core.ports.judge import Judge

from lamdis_judge_openai._chat import OpenAIChatModel
from lamdis_judge_openai._settings import OpenAISettings


class OpenAIJudge(LLMJudge):
    """Judge, user simulator and extractor on OpenAI Chat Completions.

    Requests use ``response_format={"type": "json_object"}``; everything else (prompts,
    parsing, the repair retry, caching, retries) is :class:`~lamdis_core.llm.LLMJudge`'s.

    Args:
        settings: key, base URL, model and temperature.
        policy: concurrency, timeout and retries (default: ``CallPolicy()``).
        cache: reused answers for temperature-0 calls.
    """

    def __init__(
        self,
        settings: OpenAISettings,
        *,
        policy: CallPolicy | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        super().__init__(
            OpenAIChatModel(api_key=settings.api_key, base_url=settings.base_url),
            model=settings.model,
            temperature=settings.temperature,
            policy=policy,
            cache=cache,
        )
        self.settings = settings


def create_judge(env: Mapping[str, str], *, cache: ResponseCache | None = None) -> Judge:
    """Entry point ``lamdis.judges: openai``: an :class:`OpenAIJudge` configured from ``env``.

    Raises:
        ConfigError: a setting is malformed or the API key is missing.
    """
    return OpenAIJudge(OpenAISettings.from_env(env), policy=CallPolicy.from_env(env), cache=cache)
