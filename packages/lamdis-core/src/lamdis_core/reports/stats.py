"""Repeat statistics and the pass-rate gate: what ``--repeat N`` and ``--min-pass-rate R`` mean.

Per test x assistant, counted as items finish (a :class:`RepeatTally` is a handful of
integers, so memory does not grow with the repeat count):

- **pass rate** — passed over judged repeats (skipped repeats do not count);
- its **Wilson 95% interval** — where the true pass rate plausibly lies, given so few runs;
- **pass^k** — the share of the k-run subsets of the runs in which every run passed, the
  reliability figure τ-bench made standard: ``C(passed, k) / C(judged, k)`` (k defaults to
  the number of runs, so pass^N is 1 only when every run passed);
- **flaky** — some repeats passed and some did not.

The gate: a test passes the run when its pass rate is at least its minimum (the test's
``minPassRate``, else ``--min-pass-rate``, else 1.0), so a flaky test is judged by its pass
rate rather than by any single failure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import attrs

from lamdis_core.domain.base import Record, Value
from lamdis_core.domain.results import Item, ItemStatus, RunStatus

Z_95 = 1.959963984540054
"""The two-sided 95% quantile of the standard normal distribution."""


def wilson_interval(passed: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of ``passed`` successes in ``n`` trials.

    ``(0.0, 1.0)`` when ``n`` is 0 (nothing is known).

    Raises:
        ValueError: ``passed`` is outside ``[0, n]``.
    """
    if not 0 <= passed <= n:
        raise ValueError(f"passed must be between 0 and n ({n}), got {passed}")
    if n == 0:
        return 0.0, 1.0
    p = passed / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # Rounding must not push the bounds past the observed rate or out of [0, 1].
    low = max(0.0, min(p, centre - half))
    high = min(1.0, max(p, centre + half))
    return low, high


def pass_hat_k(passed: int, n: int, k: int) -> float | None:
    """pass^k: the share of k-run subsets of ``n`` runs in which all ``k`` passed.

    ``None`` when ``k`` is not in ``[1, n]``.
    """
    if not 1 <= k <= n:
        return None
    return math.comb(passed, k) / math.comb(n, k)


@attrs.define(kw_only=True, repr=False, eq=False)
class RepeatTally(Record):
    """How the repeats of one test x assistant came out."""

    runs: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    def add(self, status: ItemStatus) -> None:
        self.runs += 1
        if status is ItemStatus.PASSED:
            self.passed += 1
        elif status is ItemStatus.FAILED:
            self.failed += 1
        elif status is ItemStatus.ERROR:
            self.errors += 1
        else:
            self.skipped += 1

    @property
    def judged(self) -> int:
        return self.runs - self.skipped

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.passed, self.judged) if self.judged else None

    def pass_k(self, k: int | None = None) -> float | None:
        return pass_hat_k(self.passed, self.judged, k or self.judged)

    @property
    def flaky(self) -> bool:
        return 0 < self.passed < self.judged


class RepeatStats:
    """Tallies per (test id, assistant), fed one finished item at a time."""

    def __init__(self) -> None:
        self.tallies: dict[tuple[str, str], RepeatTally] = {}

    def add(self, item: Item) -> None:
        key = (item.test_id, item.assistant)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = RepeatTally()
        tally.add(item.status)

    @classmethod
    def of(cls, items: Iterable[Item]) -> RepeatStats:
        stats = cls()
        for item in items:
            stats.add(item)
        return stats


@attrs.frozen(kw_only=True, repr=False, eq=False)
class PassRateGate(Value):
    """The minimum pass rate per test: ``per_test`` (a test's ``minPassRate``) over ``default``
    (``--min-pass-rate``, 1.0 when not given)."""

    default: float = 1.0
    per_test: Mapping[str, float] = attrs.Factory(dict)

    def minimum(self, test_id: str) -> float:
        return self.per_test.get(test_id, self.default)

    def passes(self, test_id: str, tally: RepeatTally) -> bool | None:
        """Whether the test meets its minimum; ``None`` when no repeat was judged."""
        rate = tally.pass_rate
        if rate is None:
            return None
        # A rate computed from counts can land a hair under a minimum written in decimal.
        return rate + 1e-9 >= self.minimum(test_id)


def gated_status(stats: RepeatStats, gate: PassRateGate, *, stopped: bool) -> RunStatus:
    """The run's status under the gate: stopped; else failed when a test is below its
    minimum; else partial when a repeat was skipped; else passed. With one run per test and
    the default minimum of 1.0 this is exactly "failed if anything failed or errored"."""
    if stopped:
        return RunStatus.STOPPED
    if any(gate.passes(test_id, t) is False for (test_id, _), t in stats.tallies.items()):
        return RunStatus.FAILED
    if any(t.skipped for t in stats.tallies.values()):
        return RunStatus.PARTIAL
    return RunStatus.PASSED
