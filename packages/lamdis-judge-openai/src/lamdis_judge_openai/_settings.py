"""OpenAI settings read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs
from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.settings import env_float

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def normalise_base_url(raw: str) -> str:
    """``OPENAI_BASE`` with or without the API version: a bare origin gets ``/v1`` appended.

    lamdis-runs users set ``OPENAI_BASE=https://api.openai.com``; OpenAI-compatible servers
    document bases like ``http://host:8000/v1``. Both work; any other path is kept as given.
    """
    base = raw.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            [
                ConfigProblem(
                    file="environment variable OPENAI_BASE",
                    message=f"expected an http(s) URL such as https://api.openai.com/v1, got {raw!r}",
                )
            ]
        )
    return base if parts.path not in ("", "/") else f"{base}/v1"


@attrs.frozen(kw_only=True)
class OpenAISettings:
    """Where and how to call OpenAI. ``api_key`` never appears in reprs or logs."""

    api_key: str | None = attrs.field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    temperature: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OpenAISettings:
        """Reads ``OPENAI_API_KEY``, ``OPENAI_BASE``, ``OPENAI_MODEL`` and ``OPENAI_TEMPERATURE``.

        Raises:
            ConfigError: a malformed value, or no API key for the public OpenAI endpoint.
        """
        base = env.get("OPENAI_BASE", "").strip()
        settings = cls(
            api_key=env.get("OPENAI_API_KEY", "").strip() or None,
            base_url=normalise_base_url(base) if base else DEFAULT_BASE_URL,
            model=env.get("OPENAI_MODEL", "").strip() or DEFAULT_MODEL,
            temperature=env_float(env, "OPENAI_TEMPERATURE", 0.0, minimum=0.0),
        )
        settings.require_key()
        return settings

    def require_key(self) -> None:
        """A key is required by OpenAI itself; a self-hosted compatible server may not need one."""
        if self.api_key is None and self.base_url == DEFAULT_BASE_URL:
            raise ConfigError(
                [
                    ConfigProblem(
                        file="environment variable OPENAI_API_KEY",
                        message="is not set; the OpenAI judge needs an API key "
                        "(or set OPENAI_BASE to an OpenAI-compatible server that needs none)",
                    )
                ]
            )
