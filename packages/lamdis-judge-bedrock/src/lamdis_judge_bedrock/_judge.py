"""The Bedrock judge: :class:`~lamdis_core.llm.LLMJudge` over the Converse API."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.llm import CallPolicy, LLMJudge, ResponseCache
from lamdis_core.ports.judge import Judge

from lamdis_judge_bedrock._chat import BedrockChatModel
from lamdis_judge_bedrock._settings import BedrockSettings


class BedrockJudge(LLMJudge):
    """Judge, user simulator and extractor on AWS Bedrock (any model Converse serves).

    Converse has no JSON mode, so the JSON the prompt asks for is read by the tolerant parser
    (code fences and prose around the object are fine) with one repair attempt.

    Args:
        settings: region, endpoint, credentials, model and temperature.
        policy: concurrency, timeout and retries (default: ``CallPolicy()``).
        cache: reused answers for temperature-0 calls.
    """

    def __init__(
        self,
        settings: BedrockSettings,
        *,
        policy: CallPolicy | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        super().__init__(
            BedrockChatModel(settings, max_tokens=settings.judge_max_tokens),
            model=settings.judge_model_id,
            temperature=settings.judge_temperature,
            policy=policy,
            cache=cache,
        )
        self.settings = settings


def create_judge(env: Mapping[str, str], *, cache: ResponseCache | None = None) -> Judge:
    """Entry point ``lamdis.judges: bedrock``: a :class:`BedrockJudge` configured from ``env``."""
    return BedrockJudge(BedrockSettings.from_env(env), policy=CallPolicy.from_env(env), cache=cache)
