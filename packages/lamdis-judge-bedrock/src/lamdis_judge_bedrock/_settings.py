"""Bedrock settings read from the environment, with lamdis-runs' precedence."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from lamdis_core.settings import env_int, env_optional_float

DEFAULT_MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
DEFAULT_REGION = "us-east-1"
DEFAULT_JUDGE_MAX_TOKENS = 1024


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


@attrs.frozen(kw_only=True)
class BedrockSettings:
    """Where and how to call Bedrock Runtime. Credentials never appear in reprs or logs.

    Credentials left as None fall back to boto's default chain (profile, instance role...).
    """

    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    judge_model_id: str = DEFAULT_MODEL_ID
    chat_model_id: str = DEFAULT_MODEL_ID
    judge_temperature: float = 0.0
    chat_temperature: float | None = None
    judge_max_tokens: int = DEFAULT_JUDGE_MAX_TOKENS
    access_key_id: str | None = attrs.field(default=None, repr=False)
    secret_access_key: str | None = attrs.field(default=None, repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)
    profile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BedrockSettings:
        """Reads the seed's variables.

        Models: ``BEDROCK_JUDGE_MODEL_ID`` > ``BEDROCK_MODEL_ID`` > Claude 3 Haiku for the
        judge; ``BEDROCK_CHAT_MODEL_ID`` > ``BEDROCK_MODEL_ID`` > the same for the chat target.
        Temperatures: ``BEDROCK_JUDGE_TEMPERATURE`` / ``BEDROCK_CHAT_TEMPERATURE`` >
        ``BEDROCK_TEMPERATURE`` (judge default 0, chat default: the model's own).
        Region: ``AWS_REGION`` > ``AWS_DEFAULT_REGION`` > us-east-1. Endpoint override:
        ``BEDROCK_ENDPOINT_URL`` > ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` > ``AWS_ENDPOINT_URL``.

        Raises:
            ConfigError: a malformed number.
        """
        shared_temperature = env_optional_float(env, "BEDROCK_TEMPERATURE")
        judge_temperature = env_optional_float(env, "BEDROCK_JUDGE_TEMPERATURE")
        chat_temperature = env_optional_float(env, "BEDROCK_CHAT_TEMPERATURE")
        return cls(
            region=_first(env, "AWS_REGION", "AWS_DEFAULT_REGION") or DEFAULT_REGION,
            endpoint_url=_first(
                env, "BEDROCK_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"
            ),
            judge_model_id=_first(env, "BEDROCK_JUDGE_MODEL_ID", "BEDROCK_MODEL_ID")
            or DEFAULT_MODEL_ID,
            chat_model_id=_first(env, "BEDROCK_CHAT_MODEL_ID", "BEDROCK_MODEL_ID")
            or DEFAULT_MODEL_ID,
            judge_temperature=next(
                (t for t in (judge_temperature, shared_temperature) if t is not None), 0.0
            ),
            chat_temperature=chat_temperature
            if chat_temperature is not None
            else shared_temperature,
            judge_max_tokens=env_int(
                env, "BEDROCK_JUDGE_MAX_TOKENS", DEFAULT_JUDGE_MAX_TOKENS, minimum=1
            ),
            access_key_id=_first(env, "AWS_ACCESS_KEY_ID"),
            secret_access_key=_first(env, "AWS_SECRET_ACCESS_KEY"),
            session_token=_first(env, "AWS_SESSION_TOKEN"),
            profile=_first(env, "AWS_PROFILE"),
        )
