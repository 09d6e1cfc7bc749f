"""When and how long to wait before trying a failed call again.

One policy serves every retry in lamdis: assistant turns and request steps (the engine) and
LLM calls (``lamdis_core.llm``), each with its own numbers; adapters never retry on their own.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs

from lamdis_core.domain.base import Value


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RetryPolicy(Value):
    """``retries`` more attempts after the first.

    The wait before retry ``n`` (1 = the first retry) is the server's ``Retry-After`` when it
    gave one, plus up to 10% jitter so many callers do not return in lockstep; otherwise
    exponential backoff ``base_delay * 2**(n-1)`` capped at ``max_delay``, with equal jitter
    (half fixed, half random). A server asking for more than ``max_retry_after`` seconds is
    not waited for: holding a whole run hostage is worse than reporting the failure.

    Answers that ask to slow down and say when to come back (429 or 503 with
    ``Retry-After``) draw on their own budget, ``rate_limited_retries``: under a rate limit
    many calls are turned away in turn, so they are waited out rather than failed.
    """

    retries: int = 2
    rate_limited_retries: int = 20
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: bool = True

    def waits_for(self, retry_after: float | None) -> bool:
        """Whether a retry is worth it given the server's ``Retry-After`` (``None``: yes)."""
        return retry_after is None or retry_after <= self.max_retry_after

    def delay(
        self, retry: int, retry_after: float | None = None, *, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        uniform = rng.uniform if rng is not None else random.uniform
        if retry_after is not None and retry_after >= 0:
            return retry_after * (1 + uniform(0, 0.1)) if self.jitter else retry_after
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (max(1, retry) - 1))
        if not self.jitter:
            return ceiling
        return ceiling / 2 + uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns ``None`` when the header is absent or unreadable (the caller then backs off on its
    own schedule); negative seconds and dates in the past give ``0``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
