"""The external judge (JUDGE_BASE_URL) against a fake judge service over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import attrs
import pytest
from lamdis_core.domain.errors import ConfigError, JudgeError
from lamdis_core.llm import CallPolicy
from lamdis_core.retry import RetryPolicy
from lamdis_http.judges.external import ExternalJudge, create_judge

from tests.contracts.judge import JudgeContract, sample_request
from tests.fakes._scripted import Reply, error, hang
from tests.fakes.judge_service import FakeJudgeService, judged

RETRIES = 1


@pytest.fixture
async def judge_service() -> AsyncIterator[FakeJudgeService]:
    async with FakeJudgeService() as service:
        assert isinstance(service, FakeJudgeService)
        yield service


def fast(retries: int = RETRIES, timeout: float = 5.0) -> CallPolicy:
    return CallPolicy(timeout=timeout, retry=RetryPolicy(retries=retries, base_delay=0.01))


class TestExternalJudgeContract(JudgeContract):
    scriptable = True
    can_open = False
    can_extract = False

    @pytest.fixture
    async def judge(self, judge_service: FakeJudgeService) -> AsyncIterator[ExternalJudge]:
        self.server = judge_service
        judge = ExternalJudge(judge_service.base_url, policy=fast())
        yield judge
        await judge.aclose()

    def arrange_verdict(
        self,
        *,
        score: float,
        model_pass: bool | None = None,
        reasoning: str = "Fine.",
        next_message: str | None = None,
    ) -> None:
        extra = {"nextUser": next_message} if next_message else {}
        self.server.script(judged(score, passed=model_pass, reasoning=reasoning, **extra))

    def arrange_failure(self) -> None:
        self.server.script(*[error(502)] * (RETRIES + 1))


async def test_request_has_the_seed_shape_org_and_token(judge_service: FakeJudgeService) -> None:
    """The POST goes to /orgs/{orgId}/judge with rubric, threshold, transcript, lastAssistant, persona and the token."""
    judge = create_judge(
        {
            "JUDGE_BASE_URL": judge_service.base_url + "/",
            "LAMDIS_API_TOKEN": "tok-123",
            "JUDGE_ORG_ID": "acme",
        }
    )
    try:
        await judge.evaluate(sample_request())
        await judge.evaluate(attrs.evolve(sample_request(), org_id="org 7"))
    finally:
        await judge.aclose()
    first, second = judge_service.requests
    assert (
        first.path == "/orgs/acme/judge" and second.path == "/orgs/org 7/judge"
    )  # aiohttp decodes the escaped id
    body = first.body
    assert set(body) >= {"rubric", "threshold", "transcript", "lastAssistant", "persona"}
    assert body["lastAssistant"] == sample_request().last_assistant
    assert body["transcript"][0] == {"role": "user", "content": "What fees do you charge?"}
    assert (
        first.headers["Authorization"] == "Bearer tok-123"
        and first.headers["x-api-token"] == "tok-123"
    )


async def test_judge_api_token_wins_over_lamdis_api_token(judge_service: FakeJudgeService) -> None:
    """JUDGE_API_TOKEN is the judge's own token; LAMDIS_API_TOKEN is the fallback."""
    judge = create_judge(
        {"JUDGE_BASE_URL": judge_service.base_url, "LAMDIS_API_TOKEN": "a", "JUDGE_API_TOKEN": "b"}
    )
    try:
        await judge.evaluate(sample_request())
    finally:
        await judge.aclose()
    assert judge_service.requests[0].headers["x-api-token"] == "b"


async def test_hmac_signature_covers_timestamp_and_body(judge_service: FakeJudgeService) -> None:
    """With JUDGE_HMAC_SECRET, x-signature is the hex HMAC-SHA256 of "{x-timestamp}.{raw body}"."""
    judge = create_judge({"JUDGE_BASE_URL": judge_service.base_url, "JUDGE_HMAC_SECRET": "s3cret"})
    try:
        await judge.evaluate(sample_request())
    finally:
        await judge.aclose()
    sent = judge_service.requests[0]
    raw = json.dumps(sent.body, ensure_ascii=False).encode()
    timestamp = sent.headers["x-timestamp"]
    expected = hmac.new(b"s3cret", f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert sent.headers["x-signature"] == expected
    assert abs(int(timestamp) / 1000 - time.time()) < 60  # milliseconds, so replays stay apart


async def test_pass_is_recomputed_and_the_service_flag_kept(
    judge_service: FakeJudgeService,
) -> None:
    """The service's pass becomes model_pass; passed is score >= our threshold."""
    judge_service.script(judged(0.5, passed=True, threshold=0.4))
    judge = ExternalJudge(judge_service.base_url, policy=fast())
    try:
        verdict = await judge.evaluate(sample_request(threshold=0.7))
    finally:
        await judge.aclose()
    assert (verdict.passed, verdict.model_pass, verdict.threshold) == (False, True, 0.7)


async def test_rate_limit_is_retried_honouring_retry_after(judge_service: FakeJudgeService) -> None:
    """A 429 with Retry-After is retried after the wait it asked for."""
    judge_service.script(error(429, retry_after="1"), judged(0.9, passed=True))
    judge = ExternalJudge(judge_service.base_url, policy=fast())
    started = time.perf_counter()
    try:
        verdict = await judge.evaluate(sample_request())
    finally:
        await judge.aclose()
    assert verdict.passed and time.perf_counter() - started >= 1.0


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (Reply(kind="raw", body={"pass": True, "reasoning": "no score"}), "unusable score"),
        (Reply(kind="html", text="<html>oops</html>"), "not JSON"),
        (error(401, message="bad token"), "HTTP 401"),
    ],
    ids=["no-score", "html", "unauthorised"],
)
async def test_unusable_answers_are_judge_errors(
    judge_service: FakeJudgeService, reply: Reply, match: str
) -> None:
    """A service answer without a score, not JSON, or refused is a JudgeError, never a pass."""
    judge_service.script(reply)
    judge = ExternalJudge(judge_service.base_url, policy=fast(retries=0))
    try:
        with pytest.raises(JudgeError, match=match):
            await judge.evaluate(sample_request())
    finally:
        await judge.aclose()


async def test_a_hung_service_times_out(judge_service: FakeJudgeService) -> None:
    """A service that never answers gives a JudgeError after the timeout."""
    judge_service.script(hang())
    judge = ExternalJudge(judge_service.base_url, policy=fast(retries=0, timeout=0.3))
    try:
        with pytest.raises(JudgeError, match="no answer within"):
            await judge.evaluate(sample_request())
    finally:
        await judge.aclose()


@pytest.mark.parametrize("env", [{}, {"JUDGE_BASE_URL": "judge.local"}])
def test_missing_or_malformed_base_url_is_a_config_error(env: dict[str, str]) -> None:
    """JUDGE_BASE_URL must be set to an http(s) URL, and the error names it."""
    with pytest.raises(ConfigError, match="JUDGE_BASE_URL"):
        create_judge(env)


@pytest.mark.parametrize(
    ("body", "score"),
    [
        ({"score": 3, "reasoning": "3/10"}, None),
        ({"score": 45, "pass": True, "reasoning": "ok"}, None),
        ({"score": float("inf"), "pass": True, "reasoning": "perfect"}, None),
        ({"score": 45, "pass": False, "reasoning": "so-so"}, 0.45),
        ({"score": 45, "scale": 100, "reasoning": "so-so"}, 0.45),
    ],
    ids=["3-alone", "45-pass-true", "infinity", "45-pass-false", "45-of-100"],
)
async def test_a_service_score_outside_0_to_1_is_read_only_on_a_stated_or_agreed_scale(
    judge_service: FakeJudgeService, body: dict[str, object], score: float | None
) -> None:
    """The external judge applies the LLM judges' rule: never clamped into a pass."""
    judge_service.script(Reply(kind="raw", body=body))
    judge = ExternalJudge(judge_service.base_url, policy=fast(retries=0))
    try:
        if score is None:
            with pytest.raises(JudgeError, match="unusable score"):
                await judge.evaluate(sample_request(threshold=0.7))
        else:
            verdict = await judge.evaluate(sample_request(threshold=0.7))
            assert (verdict.score, verdict.passed) == (pytest.approx(score), False)
    finally:
        await judge.aclose()
