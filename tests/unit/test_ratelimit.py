"""The adaptive per-host concurrency limit: AIMD, Retry-After, and waits kept off a turn's clock."""

from __future__ import annotations

import asyncio
import time

import pytest
from lamdis_core.domain.results import Throttling
from lamdis_core.ratelimit import AdaptiveLimit, HostLimits, run_concurrency, turn_budget


async def test_successes_grow_by_one_until_the_first_push_back_then_by_one_per_round() -> None:
    limit = AdaptiveLimit(initial=2, maximum=100)
    for _ in range(4):
        async with limit.slot():
            pass
    assert limit.limit == 6  # slow start: one slot per success
    async with limit.slot() as slot:
        slot.throttled()
    assert limit.limit == 3  # halved
    for _ in range(3):
        async with limit.slot():
            pass
    assert 3.9 < limit.limit < 4.1  # about one per round of three answers


async def test_many_push_backs_from_one_round_cut_once() -> None:
    limit = AdaptiveLimit(initial=8)
    slots = [await limit.acquire() for _ in range(8)]
    for slot in slots:
        slot.throttled()
        await limit.release(slot)
    assert limit.limit == 4
    assert limit.throttled_count == 8


async def test_the_limit_never_drops_below_the_minimum() -> None:
    limit = AdaptiveLimit(initial=1, minimum=1)
    for _ in range(5):
        async with limit.slot() as slot:
            slot.throttled()
    assert limit.limit == 1


async def test_at_most_limit_calls_are_in_flight() -> None:
    limit = AdaptiveLimit(initial=3, maximum=3)
    peak = 0

    async def call() -> None:
        nonlocal peak
        async with limit.slot():
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(call() for _ in range(12)))
    assert peak == 3


async def test_retry_after_closes_the_gate_for_every_caller() -> None:
    limit = AdaptiveLimit(initial=4)
    async with limit.slot() as slot:
        slot.throttled(retry_after=0.2)
    started = time.monotonic()
    await asyncio.gather(*(limit.acquire() for _ in range(2)))
    assert time.monotonic() - started >= 0.19


async def test_queued_time_extends_the_turn_deadline_and_is_recorded() -> None:
    limit = AdaptiveLimit(initial=1, maximum=1)
    held = await limit.acquire()
    throttling = Throttling()

    # Half a second of slack around the call: a loaded machine's event loop wakes late by
    # tens of milliseconds, which used to exceed a 50 ms margin.
    async def budgeted_turn() -> str:
        async with asyncio.timeout(1.0) as deadline:
            with turn_budget(deadline, throttling):
                async with limit.slot():
                    await asyncio.sleep(0.5)  # the call itself fits the 1 s
        return "done"

    async def release_later() -> None:
        await asyncio.sleep(0.7)  # queued for 700 ms: without the extension 700 + 500 > 1000
        await limit.release(held)

    result, _ = await asyncio.gather(budgeted_turn(), release_later())
    assert result == "done"
    assert throttling.queued_ms >= 690


@pytest.mark.parametrize("enabled", [True, False])
async def test_host_limits_make_one_limit_per_host(enabled: bool) -> None:
    limits = HostLimits(enabled=enabled)
    assert limits.for_host("http://a:80") is limits.for_host("http://a:80")
    assert limits.for_host("http://a:80") is not limits.for_host("http://b:80")
    assert set(limits.stats()) == {"http://a:80", "http://b:80"}


async def test_a_disabled_limit_admits_everything_and_never_pauses() -> None:
    limit = HostLimits(enabled=False).for_host("http://a:80")
    slots = [await limit.acquire() for _ in range(50)]
    assert limit.in_flight == 50
    slots[0].throttled(retry_after=30)
    for slot in slots:
        await limit.release(slot)
    started = time.monotonic()
    await limit.acquire()
    # A pause would last the 30 s asked for; a loaded machine may take a while to come back.
    assert time.monotonic() - started < 5
    assert limit.throttled_count == 1


def test_a_host_first_called_in_a_run_starts_at_the_runs_concurrency() -> None:
    limits = HostLimits(maximum=50)
    assert limits.for_host("http://before:80").limit == 4  # no run: a few slots, then up
    with run_concurrency(20):
        assert limits.for_host("http://a:80").limit == 20
        assert limits.for_host("http://before:80").limit == 4  # a host keeps what it learnt
        with run_concurrency(2):
            assert limits.for_host("http://b:80").limit == 4  # never below the first limit
        with run_concurrency(500):
            assert limits.for_host("http://c:80").limit == 50  # nor above the maximum
    assert limits.for_host("http://d:80").limit == 4
