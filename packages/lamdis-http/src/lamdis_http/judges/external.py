"""A judge that delegates scoring to a service speaking ``POST /orgs/{orgId}/judge``.

This is the seed's ``JUDGE_BASE_URL``: a team runs one judge service (lamdis' own hosted
mode, or lamdis-runs) and points every runner at it. The wire shape is the seed's::

    request  {rubric, threshold, transcript: [{role, content}], lastAssistant, persona?, scope}
    response {pass, score, threshold, reasoning}

plus optional ``objective`` / ``requestNext`` in the request and ``nextUser``, ``model`` and
``usage`` in the response, as lamdis' own service (``lamdis_http.routes.judge``) speaks them;
a service that does not know them ignores them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
from lamdis_core.domain.errors import ConfigError, ConfigProblem, JudgeError
from lamdis_core.domain.results import Usage
from lamdis_core.llm import (
    CallPolicy,
    OutputParseError,
    ProviderError,
    ResponseCache,
    is_retryable_status,
    read_score,
)
from lamdis_core.logs import get_logger
from lamdis_core.ports.judge import (
    Extraction,
    ExtractRequest,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)
from lamdis_core.retry import parse_retry_after
from lamdis_core.sanitize import loads_bounded
from yarl import URL

from lamdis_http._auth import signed_headers
from lamdis_http._session import LazySession, excerpt, safe_url

logger = get_logger()

DEFAULT_ORG_ID = "default"


FORWARDED_HEADER = "x-lamdis-judge-forwarded"
"""Marks a request an external judge sent, so a lamdis service whose own judge is external
refuses to forward it again (``JUDGE_BASE_URL`` pointing back at itself would loop)."""


class ExternalJudge:
    """The Judge port over an external judge service.

    It only scores: opening a conversation and extracting values are not part of the
    service's API, so those raise :class:`JudgeError` saying so. Responses are not cached
    (the service decides its own determinism). 429 and 5xx are retried by ``policy``,
    honouring ``Retry-After``.

    Args:
        base_url: the service root (``JUDGE_BASE_URL``).
        token: sent as ``Authorization: Bearer`` and ``x-api-token`` when set.
        hmac_secret: when set, requests carry ``x-timestamp`` and ``x-signature`` (hex
            HMAC-SHA256 of ``"{timestamp}.{body}"``), as lamdis' service checks.
        org_id: used when a request carries none.
        policy: concurrency, timeout and retries.
    """

    offline = False

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        hmac_secret: str | None = None,
        org_id: str = DEFAULT_ORG_ID,
        policy: CallPolicy | None = None,
    ) -> None:
        url = URL(base_url.strip().rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                [
                    ConfigProblem(
                        file="environment variable JUDGE_BASE_URL",
                        message=f"expected an http(s) URL such as https://judge.example.com, got {base_url!r}",
                    )
                ]
            )
        self.base_url = str(url)
        self.org_id = org_id
        self.policy = policy or CallPolicy()
        self.name = f"external:{url.host}"
        self._token = token
        self._hmac_secret = hmac_secret
        self._session = LazySession(limit=self.policy.concurrency * 2)

    def _url(self, org_id: str | None) -> str:
        return f"{self.base_url}/orgs/{quote(org_id or self.org_id, safe='')}/judge"

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            FORWARDED_HEADER: "1",
        }
        if self._token:
            headers["authorization"] = f"Bearer {self._token}"
            headers["x-api-token"] = self._token
        if self._hmac_secret:
            headers.update(signed_headers(self._hmac_secret, body, millis=True))
        return headers

    async def evaluate(self, request: JudgeRequest) -> Verdict:
        payload: dict[str, Any] = {
            "rubric": request.rubric,
            "threshold": request.threshold,
            "transcript": [{"role": t.role, "content": t.content} for t in request.transcript],
            "lastAssistant": request.last_assistant,
            "scope": request.scope,
        }
        if request.persona:
            payload["persona"] = request.persona
        if request.objective:
            payload["objective"] = request.objective
        if request.propose_next:
            payload["requestNext"] = True
        url = self._url(request.org_id)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        data = await self.policy.call(self.name, lambda: self._post(url, body))
        return self._verdict(data, request)

    async def _post(self, url: str, body: bytes) -> dict[str, Any]:
        session = self._session.get()
        try:
            async with session.post(url, data=body, headers=self._headers(body)) as response:
                text = await response.text(errors="replace")
                if response.status >= 400:
                    raise ProviderError(
                        f"{safe_url(url)} answered HTTP {response.status}: {excerpt(text)}",
                        retryable=is_retryable_status(response.status),
                        retry_after=parse_retry_after(response.headers.get("Retry-After")),
                        status=response.status,
                    )
        except aiohttp.ClientError as exc:
            raise ProviderError(f"cannot reach {safe_url(url)}: {exc}", retryable=True) from exc
        try:
            data = loads_bounded(text)  # a service nesting 100,000 deep is not JSON we read
        except ValueError:
            raise ProviderError(
                f"{safe_url(url)} answered a body that is not JSON: {excerpt(text)}"
            ) from None
        if not isinstance(data, dict):
            raise ProviderError(
                f"{safe_url(url)} answered JSON that is not an object: {excerpt(text)}"
            )
        return data

    def _verdict(self, data: dict[str, Any], request: JudgeRequest) -> Verdict:
        model_pass = data.get("pass")
        try:
            # The same rule as the LLM judges: a score outside [0, 1] is read on a scale only
            # when the answer states one or its own "pass" agrees; never clamped into a pass.
            score = read_score(
                data.get("score"),
                scale=data.get("scale"),
                model_pass=model_pass if isinstance(model_pass, bool) else None,
                threshold=request.threshold,
            )
        except OutputParseError as exc:
            raise JudgeError(f"{self.name} answered an unusable score: {exc}") from exc
        reasoning = data.get("reasoning")
        next_message = data.get("nextUser") or data.get("nextMessage") or data.get("next_message")
        raw_usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        assert isinstance(raw_usage, dict)
        usage = Usage(
            calls=1,
            tokens=_int(raw_usage.get("tokens", raw_usage.get("totalTokens"))),
            prompt_tokens=_int(raw_usage.get("promptTokens")),
            completion_tokens=_int(raw_usage.get("completionTokens")),
        )
        return Verdict(
            score=score,
            threshold=request.threshold,
            passed=score >= request.threshold and not data.get("unassessed"),
            reasoning=reasoning
            if isinstance(reasoning, str) and reasoning
            else "(the judge service gave no reasoning)",
            model=str(data.get("model") or self.name),
            model_pass=model_pass if isinstance(model_pass, bool) else None,
            next_message=next_message
            if isinstance(next_message, str) and next_message.strip()
            else None,
            usage=usage,
            should_continue=data.get("shouldContinue")
            if isinstance(data.get("shouldContinue"), bool)
            else None,
            unassessed=data.get("unassessed")
            if isinstance(data.get("unassessed"), str) and data.get("unassessed")
            else None,
        )

    async def open_conversation(self, request: OpeningRequest) -> tuple[str, Usage]:
        raise JudgeError(
            f"{self.name} cannot open a conversation: the judge service API (POST "
            "/orgs/{orgId}/judge) only scores rubrics. Give the test a first user message in "
            "script.messages, or use JUDGE_PROVIDER=openai or bedrock."
        )

    async def extract(self, request: ExtractRequest) -> Extraction:
        raise JudgeError(
            f"{self.name} cannot extract {request.variable_name!r}: the judge service API only "
            "scores rubrics. Use JUDGE_PROVIDER=openai or bedrock for extract steps."
        )

    async def aclose(self) -> None:
        await self._session.aclose()


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def create_judge(env: Mapping[str, str], *, cache: ResponseCache | None = None) -> ExternalJudge:
    """Entry point ``lamdis.judges: external``, configured from ``env``.

    Reads ``JUDGE_BASE_URL`` (required), ``JUDGE_API_TOKEN`` > ``LAMDIS_API_TOKEN``,
    ``JUDGE_HMAC_SECRET``, ``JUDGE_ORG_ID`` and the ``LAMDIS_JUDGE_*`` call policy. ``cache``
    is accepted for the common signature and not used.

    Raises:
        ConfigError: ``JUDGE_BASE_URL`` is missing or not an http(s) URL.
    """
    del cache
    base_url = env.get("JUDGE_BASE_URL", "").strip()
    if not base_url:
        raise ConfigError(
            [
                ConfigProblem(
                    file="environment variable JUDGE_BASE_URL",
                    message="is not set; the external judge needs it",
                )
            ]
        )
    return ExternalJudge(
        base_url,
        token=(
            env.get("JUDGE_API_TOKEN", "").strip()
            or env.get("LAMDIS_API_TOKEN", "").strip()
            or None
        ),
        hmac_secret=env.get("JUDGE_HMAC_SECRET", "").strip() or None,
        org_id=env.get("JUDGE_ORG_ID", "").strip() or DEFAULT_ORG_ID,
        policy=CallPolicy.from_env(env),
    )
