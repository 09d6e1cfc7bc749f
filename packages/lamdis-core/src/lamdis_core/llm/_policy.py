"""How LLM calls are made: bounded concurrency, a timeout, and retries with backoff.

The SDKs' own retries are switched off (``max_retries=0``) so this is the one place where
the policy lives, the same for OpenAI, Bedrock and the external judge.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from lamdis_core.domain.errors import JudgeError
from lamdis_core.llm._types import ProviderError
from lamdis_core.logs import get_logger
from lamdis_core.ratelimit import THROTTLING_STATUSES, AdaptiveLimit
from lamdis_core.retry import RetryPolicy, parse_retry_after
from lamdis_core.settings import env_float, env_int

logger = get_logger()

T = TypeVar("T")

DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT_S = 60.0
# A provider asking for more than this is treated as "not now": waiting longer would hold a
# test run hostage, so the call fails with the wait it asked for in the error instead.
MAX_RETRY_AFTER_S = 60.0


def _llm_retry(retries: int) -> RetryPolicy:
    # Model services throttle for longer than chat endpoints do: start slower, cap higher.
    return RetryPolicy(
        retries=retries, base_delay=0.5, max_delay=20.0, max_retry_after=MAX_RETRY_AFTER_S
    )


class CallPolicy:
    """Runs provider calls under a concurrency limit, a timeout and the retry policy.

    The limit adapts: a 429 or 503 halves the calls in flight (once per round of answers) and
    its ``Retry-After`` holds every call of this policy for that long; successes grow it back
    up to ``concurrency``. ``throttled`` and ``backoff_s`` count what that cost.

    Args:
        concurrency: calls in flight at once through this policy (``LAMDIS_JUDGE_CONCURRENCY``).
        timeout: seconds one attempt may take before it is abandoned and counted as failed.
        retry: when and how long to wait before trying again.
        rng: source of jitter; tests pass a seeded one.
    """

    def __init__(
        self,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry or _llm_retry(DEFAULT_MAX_RETRIES)
        self._limit = asyncio.Semaphore(concurrency)
        # The provider's host pushes back with 429/503: the calls in flight shrink to half and
        # grow back one per round of answers, up to ``concurrency`` (as targets' hosts do).
        self.adaptive = AdaptiveLimit(initial=concurrency, maximum=concurrency)
        self.throttled = 0
        self.backoff_s = 0.0
        self._rng = rng or random.Random()
        self.in_flight = 0
        self.peak_in_flight = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CallPolicy:
        """Reads ``LAMDIS_JUDGE_CONCURRENCY``, ``LAMDIS_JUDGE_TIMEOUT`` (seconds) and
        ``LAMDIS_JUDGE_MAX_RETRIES``; raises ``ConfigError`` naming a malformed one."""
        return cls(
            concurrency=env_int(env, "LAMDIS_JUDGE_CONCURRENCY", DEFAULT_CONCURRENCY, minimum=1),
            timeout=env_float(env, "LAMDIS_JUDGE_TIMEOUT", DEFAULT_TIMEOUT_S, minimum=0.001),
            retry=_llm_retry(
                env_int(env, "LAMDIS_JUDGE_MAX_RETRIES", DEFAULT_MAX_RETRIES, minimum=0)
            ),
        )

    async def call(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Runs ``attempt`` until it succeeds or the policy gives up.

        Args:
            what: names the call in logs and errors (``openai:gpt-4o-mini``).
            attempt: makes one call; raises :class:`ProviderError` on failure.

        Raises:
            JudgeError: the call failed and was not retryable, or every retry failed too.
        """
        retries = 0
        while True:
            try:
                async with self._limit, self.adaptive.slot() as slot:
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                    try:
                        async with asyncio.timeout(self.timeout):
                            return await attempt()
                    except ProviderError as exc:
                        if exc.status in THROTTLING_STATUSES:
                            self.throttled += 1
                            slot.throttled(exc.retry_after)
                        raise
                    finally:
                        self.in_flight -= 1
            except TimeoutError:
                error = ProviderError(f"no answer within {self.timeout:g}s", retryable=True)
            except ProviderError as exc:
                error = exc
            too_long = not self.retry.waits_for(error.retry_after)
            if not error.retryable or retries >= self.retry.retries or too_long:
                attempts = retries + 1
                detail = (
                    f"{what} failed after {attempts} attempt{'s' if attempts > 1 else ''}: {error}"
                )
                if too_long:
                    detail += (
                        f" (asked to wait {error.retry_after:g}s, more than the "
                        f"{self.retry.max_retry_after:g}s we are willing to wait)"
                    )
                raise JudgeError(
                    detail, retryable=error.retryable, retry_after=error.retry_after
                ) from error
            retries += 1
            delay = self.retry.delay(retries, error.retry_after, rng=self._rng)
            logger.warning(
                "llm_call_retry",
                call=what,
                retry=retries,
                of=self.retry.retries,
                status=error.status,
                retry_after=error.retry_after,
                delay_s=round(delay, 3),
                error=str(error),
            )
            if error.status in THROTTLING_STATUSES:
                self.backoff_s += delay
            # Sleep outside the semaphore so a throttled call does not starve the others.
            await asyncio.sleep(delay)


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` (OpenAI's, more precise) first, then ``Retry-After``; case-insensitive."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    return parse_retry_after(lowered.get("retry-after"))
