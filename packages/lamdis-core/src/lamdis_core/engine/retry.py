"""Retry policy for target turns and judge calls: exponential backoff, jitter, Retry-After."""

from __future__ import annotations

import random

import attrs


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """``retries`` extra attempts after the first; delay ``base * 2**attempt`` (capped at
    ``max_delay``) with full jitter, or the server's ``Retry-After`` when it gave one (capped
    at ``max_retry_after``, so a hostile header cannot stall a run)."""

    retries: int = 2
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: bool = True

    def delay(
        self, attempt: int, retry_after: float | None = None, *, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2.0**attempt)
        if not self.jitter:
            return ceiling
        uniform = rng.uniform if rng is not None else random.uniform
        return uniform(ceiling / 2, ceiling)
