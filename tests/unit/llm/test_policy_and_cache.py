"""The call policy (limit, timeout, retries), Retry-After parsing, and the response caches."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from lamdis_core.domain.errors import ConfigError, JudgeError
from lamdis_core.llm import (
    CachedCompletion,
    CallPolicy,
    ChatMessage,
    DiskResponseCache,
    MemoryResponseCache,
    ProviderError,
    cache_key,
    retry_after_from_headers,
)
from lamdis_core.retry import RetryPolicy, parse_retry_after


def policy(**kwargs: object) -> CallPolicy:
    retry = RetryPolicy(retries=int(kwargs.pop("retries", 2)), base_delay=0.01, max_delay=0.02)  # type: ignore[call-overload]
    return CallPolicy(retry=retry, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


async def test_retryable_failures_are_retried_until_success() -> None:
    """A retryable ProviderError is retried; the first success is returned."""
    outcomes: list[object] = [ProviderError("busy", retryable=True, status=503), "ok"]

    async def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    assert await policy().call("test", attempt) == "ok"


async def test_non_retryable_failure_raises_at_once() -> None:
    """A non-retryable failure is not repeated and becomes a JudgeError naming the call."""
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise ProviderError("bad request", status=400)

    with pytest.raises(JudgeError, match="test-call failed after 1 attempt: bad request"):
        await policy().call("test-call", attempt)
    assert calls == 1


async def test_a_retry_after_beyond_the_ceiling_fails_instead_of_waiting() -> None:
    """A provider asking for minutes is not waited for: the error says how long it asked."""

    async def attempt() -> str:
        raise ProviderError("slow down", retryable=True, retry_after=3600, status=429)

    with pytest.raises(JudgeError, match="asked to wait 3600s") as caught:
        await policy().call("x", attempt)
    assert caught.value.retry_after == 3600


async def test_timeout_abandons_the_attempt() -> None:
    """An attempt slower than the timeout is cancelled and counted as a retryable failure."""

    async def attempt() -> str:
        await asyncio.sleep(5)
        return "late"

    with pytest.raises(JudgeError, match=r"no answer within 0\.05s"):
        await policy(timeout=0.05, retries=1).call("x", attempt)


async def test_concurrency_is_bounded() -> None:
    """No more than ``concurrency`` attempts run at once."""
    limited = policy(concurrency=3)

    async def attempt() -> int:
        await asyncio.sleep(0.02)
        return limited.in_flight

    seen = await asyncio.gather(*(limited.call("x", attempt) for _ in range(10)))
    assert max(seen) <= 3 and limited.peak_in_flight == 3


def test_backoff_grows_is_capped_and_jittered() -> None:
    """Backoff doubles per retry up to max_delay, with half of it random; Retry-After wins."""
    retry = RetryPolicy(base_delay=1.0, max_delay=4.0)
    rng = random.Random(0)
    for n, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delay = retry.delay(n, None, rng=rng)
        assert cap / 2 <= delay <= cap
    assert 2.0 <= retry.delay(1, 2.0, rng=rng) <= 2.2


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), (" 1.5 ", 1.5), ("-4", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    """Delta-seconds are read, negatives become 0, and junk means no hint."""
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date_and_ms_header() -> None:
    """An HTTP date counts from now; OpenAI's retry-after-ms wins over Retry-After."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(30)
    assert retry_after_from_headers({"Retry-After": "3", "retry-after-ms": "250"}) == 0.25
    assert retry_after_from_headers({"retry-after": "3"}) == 3.0


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"LAMDIS_JUDGE_CONCURRENCY": "many"}, "LAMDIS_JUDGE_CONCURRENCY"),
        ({"LAMDIS_JUDGE_CONCURRENCY": "0"}, "LAMDIS_JUDGE_CONCURRENCY"),
        ({"LAMDIS_JUDGE_TIMEOUT": "-1"}, "LAMDIS_JUDGE_TIMEOUT"),
        ({"LAMDIS_JUDGE_MAX_RETRIES": "1.5"}, "LAMDIS_JUDGE_MAX_RETRIES"),
    ],
)
def test_policy_settings_from_env_are_validated(env: dict[str, str], name: str) -> None:
    """A malformed policy variable is a ConfigError naming it and saying what was expected."""
    with pytest.raises(ConfigError, match=name):
        CallPolicy.from_env(env)


def test_policy_defaults() -> None:
    """Concurrency 8, three retries and a 60 s timeout when nothing is set."""
    defaults = CallPolicy.from_env({})
    assert (defaults.concurrency, defaults.retry.retries, defaults.timeout) == (8, 3, 60.0)
    assert CallPolicy.from_env({"LAMDIS_JUDGE_CONCURRENCY": "2"}).concurrency == 2


def test_cache_key_depends_on_everything_that_decides_the_answer() -> None:
    """Model, temperature, messages and JSON mode each change the key; equal inputs give equal keys."""
    messages = [ChatMessage(role="user", content="hi")]
    base = {
        "provider": "openai",
        "model": "m",
        "temperature": 0.0,
        "messages": messages,
        "json_mode": True,
    }
    key = cache_key(**base)  # type: ignore[arg-type]
    assert key == cache_key(**base)  # type: ignore[arg-type]
    assert len(key) == 64
    for change in (
        {"model": "n"},
        {"temperature": 0.5},
        {"json_mode": False},
        {"provider": "bedrock"},
        {"messages": [ChatMessage(role="user", content="hi!")]},
        {"messages": [ChatMessage(role="system", content="hi")]},
    ):
        assert cache_key(**{**base, **change}) != key  # type: ignore[arg-type]


async def test_memory_cache_round_trip_and_eviction() -> None:
    """Entries come back as stored; the least recently used goes first when full."""
    cache = MemoryResponseCache(max_entries=2)
    a, b, c = ("a" * 64, "b" * 64, "c" * 64)
    await cache.set(a, CachedCompletion(text="A", model="m"))
    await cache.set(b, CachedCompletion(text="B", model="m"))
    assert await cache.get(a) == CachedCompletion(text="A", model="m")
    await cache.set(c, CachedCompletion(text="C", model="m"))
    assert await cache.get(b) is None
    assert (await cache.get(a), await cache.get(c)) != (None, None)


async def test_disk_cache_round_trip_survives_a_new_instance(tmp_path: Path) -> None:
    """A stored entry is read back by another cache over the same folder (the next CLI run)."""
    key = "ab" + "0" * 62
    await DiskResponseCache(tmp_path).set(key, CachedCompletion(text='{"score": 1}', model="m"))
    assert await DiskResponseCache(tmp_path).get(key) == CachedCompletion(
        text='{"score": 1}', model="m"
    )
    assert await DiskResponseCache(tmp_path).get("cd" + "0" * 62) is None
    leftovers = await asyncio.to_thread(lambda: list(tmp_path.rglob(".tmp-*")))
    assert not leftovers


async def test_a_corrupt_disk_entry_is_a_miss(tmp_path: Path) -> None:
    """An unreadable entry is treated as absent (and logged), never an error for the run."""
    key = "ef" + "1" * 62
    path = tmp_path / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    assert await DiskResponseCache(tmp_path).get(key) is None


async def test_disk_cache_rejects_keys_that_are_not_digests(tmp_path: Path) -> None:
    """Keys are hex digests; anything else (a path, say) is refused rather than written."""
    with pytest.raises(ValueError, match="sha256"):
        await DiskResponseCache(tmp_path).get("../../etc/passwd")


async def test_a_throttled_provider_shrinks_the_calls_in_flight_and_is_counted() -> None:
    """A 429 halves the adaptive limit and its Retry-After holds the other calls too."""
    limited = policy(concurrency=4)
    answers = iter([ProviderError("429", retryable=True, retry_after=0.05, status=429)])

    async def attempt() -> str:
        failure = next(answers, None)
        if failure is not None:
            raise failure
        await asyncio.sleep(0.01)
        return "ok"

    assert await limited.call("x", attempt) == "ok"
    assert limited.throttled == 1
    assert limited.adaptive.limit == 2.0 + 1 / 2  # halved, then one success at 1/limit
    assert limited.backoff_s >= 0.05
