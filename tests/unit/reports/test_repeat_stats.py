"""Properties of the repeat statistics: the Wilson interval, pass^k, flaky and the gate."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.domain.results import ItemStatus, RunStatus
from lamdis_core.reports.stats import (
    PassRateGate,
    RepeatStats,
    RepeatTally,
    gated_status,
    pass_hat_k,
    wilson_interval,
)

from tests.unit.reports.test_reports import _item as item


@st.composite
def outcomes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=10_000))
    return draw(st.integers(min_value=0, max_value=n)), n


@given(outcomes())
def test_the_interval_lies_inside_0_1_and_contains_the_observed_rate(case: tuple[int, int]) -> None:
    passed, n = case
    low, high = wilson_interval(passed, n)
    assert 0.0 <= low <= passed / n <= high <= 1.0


@given(outcomes(), st.integers(min_value=2, max_value=50))
def test_the_interval_narrows_as_the_runs_grow_at_the_same_rate(
    case: tuple[int, int], factor: int
) -> None:
    passed, n = case
    low, high = wilson_interval(passed, n)
    more_low, more_high = wilson_interval(passed * factor, n * factor)
    assert more_high - more_low <= high - low + 1e-12


def test_the_interval_matches_the_textbook_figure() -> None:
    """8 of 10: Wilson 95% is about [0.490, 0.943]."""
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(3, 2)


@given(outcomes(), st.integers(min_value=1, max_value=40))
def test_pass_k_is_a_share_that_falls_as_k_grows(case: tuple[int, int], k: int) -> None:
    passed, n = case
    n = min(n, 60)
    passed = min(passed, n)
    k = min(k, n)
    value = pass_hat_k(passed, n, k)
    assert value is not None and 0.0 <= value <= 1.0
    if k > 1:
        previous = pass_hat_k(passed, n, k - 1)
        assert previous is not None and value <= previous + 1e-12
    assert pass_hat_k(passed, n, n) == (1.0 if passed == n else 0.0)
    assert pass_hat_k(passed, n, 1) == pytest.approx(passed / n)
    assert pass_hat_k(passed, n, n + 1) is None


def test_pass_k_counts_the_k_run_subsets_in_which_every_run_passed() -> None:
    """3 of 4 passed: of the C(4,2) = 6 pairs, C(3,2) = 3 are all-pass."""
    assert pass_hat_k(3, 4, 2) == 0.5
    assert pass_hat_k(3, 4, 3) == math.comb(3, 3) / math.comb(4, 3)


def test_mixed_outcomes_are_flaky_and_gated_by_pass_rate() -> None:
    tally = RepeatTally()
    for status in (ItemStatus.PASSED, ItemStatus.FAILED, ItemStatus.PASSED, ItemStatus.SKIPPED):
        tally.add(status)
    assert tally.flaky and tally.judged == 3 and tally.pass_rate == pytest.approx(2 / 3)
    stats = RepeatStats.of(
        [item("t", ItemStatus.PASSED), item("t", ItemStatus.FAILED), item("t", ItemStatus.PASSED)]
    )
    assert gated_status(stats, PassRateGate(default=0.6), stopped=False) is RunStatus.PASSED
    assert gated_status(stats, PassRateGate(default=0.7), stopped=False) is RunStatus.FAILED
    per_test = PassRateGate(default=0.9, per_test={"t": 0.5})
    assert gated_status(stats, per_test, stopped=False) is RunStatus.PASSED
    assert gated_status(stats, per_test, stopped=True) is RunStatus.STOPPED
