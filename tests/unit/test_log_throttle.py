"""Repeated warnings are rate-limited (issue 16 item 11: ~100 retry warnings a second while
PostgreSQL was down)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from lamdis_http.cli._serve import RepeatThrottle, configure_json_logging


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _emit(throttle: RepeatThrottle, method: str, **event: object) -> dict[str, object] | None:
    try:
        return dict(throttle(None, method, dict(event)))
    except structlog.DropEvent:
        return None


def test_the_same_warning_is_written_once_per_window_then_says_how_many_were_dropped() -> None:
    clock = Clock()
    throttle = RepeatThrottle(seconds=10, clock=clock)
    written = []
    for _ in range(100):  # 100 in one second
        written.append(_emit(throttle, "warning", event="postgres.retry", operation="claim_next"))
        clock.now += 0.01
    assert [w for w in written if w is not None] == [
        {"event": "postgres.retry", "operation": "claim_next"}
    ]
    clock.now = 11
    assert _emit(throttle, "warning", event="postgres.retry", operation="claim_next") == {
        "event": "postgres.retry",
        "operation": "claim_next",
        "repeated": 99,
    }


def test_different_operations_runs_and_levels_are_not_merged_and_info_is_never_dropped() -> None:
    throttle = RepeatThrottle(seconds=10, clock=Clock())
    assert _emit(throttle, "warning", event="postgres.retry", operation="a")
    assert _emit(throttle, "warning", event="postgres.retry", operation="b")
    assert _emit(throttle, "error", event="run.crashed", run_id="r1")
    assert _emit(throttle, "error", event="run.crashed", run_id="r2")
    assert all(_emit(throttle, "info", event="http.request") for _ in range(50))


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The service's logging configuration, writing to a buffer instead of stderr."""
    out = io.StringIO()
    configure_json_logging()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=out))
    try:
        yield out
    finally:
        structlog.reset_defaults()


def test_the_service_log_rate_limits_a_retry_storm(json_log: io.StringIO) -> None:
    """Through the service's own logging configuration: 200 identical warnings, one line."""
    log = structlog.get_logger()
    for attempt in range(200):
        log.warning("postgres.retry", operation="append_item", attempt=attempt)
    log.info("http.request", path="/health")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line]
    assert [(line["event"], line.get("attempt")) for line in lines] == [
        ("postgres.retry", 0),
        ("http.request", None),
    ]
