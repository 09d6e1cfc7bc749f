"""Results: checks, items and runs (docs/results.md). Serialised in camelCase by the converter."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from lamdis_core.domain.base import Record
from lamdis_core.domain.config import Severity


class ItemStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the run could not judge: target down, judge down
    SKIPPED = "skipped"


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    PARTIAL = "partial"
    STOPPED = "stopped"

    @property
    def is_final(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


class Trigger(enum.StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    CI = "ci"


@attrs.define(kw_only=True, repr=False, eq=False)
class Check(Record):
    """The outcome of one assertion. Only ``severity == "error"`` fails a test.

    ``error`` is set when the check could not be evaluated (the judge failed); such a check
    never passes. ``skipped`` is set when the judge ran but could not assess the rubric (the
    offline judge and "be polite": "needs an LLM judge"); such a check neither passes nor
    fails, and an ``error``-severity one makes its test ``skipped`` when nothing failed.
    """

    type: str
    subtype: str | None = None
    name: str | None = None
    # ``pass`` on the wire (lamdis-runs' spelling), a Python keyword. Only checks:
    # ``totals.passed`` keeps its name.
    passed: bool = attrs.field(metadata={"wire_name": "pass"})
    severity: Severity = "error"
    details: dict[str, Any] = attrs.Factory(dict)
    error: str | None = None
    skipped: bool = False

    @property
    def fails_test(self) -> bool:
        return not self.passed and not self.skipped and self.severity == "error"

    @property
    def skips_test(self) -> bool:
        return self.skipped and self.severity == "error"


@attrs.define(kw_only=True, repr=False, eq=False)
class TranscriptEntry(Record):
    """One message. Assistant entries carry the turn's measurements: ``latency_ms``, and from
    streaming channels ``ttft_ms`` and ``chunks``; ``tool_calls`` lists ``{name, arguments}``
    of the tools the assistant called while answering."""

    role: str
    content: str
    persona_id: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    chunks: int | None = None
    tool_calls: list[dict[str, Any]] | None = None


@attrs.define(kw_only=True, repr=False, eq=False)
class Throttling(Record):
    """What rate limits cost one test: answers that said slow down (429, 503), the time spent
    backing off before retrying them, and the time spent waiting for the target host's
    concurrency limit."""

    rate_limited: int = 0
    backoff_ms: float = 0.0
    queued_ms: float = 0.0

    def add(self, other: Throttling) -> None:
        self.rate_limited += other.rate_limited
        self.backoff_ms += other.backoff_ms
        self.queued_ms += other.queued_ms

    def __bool__(self) -> bool:
        return bool(self.rate_limited or self.backoff_ms or self.queued_ms)

    @classmethod
    def of(cls, items: Iterable[Item]) -> Throttling:
        """The sum over a run's items."""
        total = cls()
        for item in items:
            if item.throttling is not None:
                total.add(item.throttling)
        return total

    def describe(self) -> str:
        """``3 rate-limited answers (429/503), 1.2 s backing off, 0.4 s queued``."""
        return (
            f"{self.rate_limited} rate-limited answers (429/503), "
            f"{self.backoff_ms / 1000:.1f} s backing off, {self.queued_ms / 1000:.1f} s queued "
            "for the host's concurrency limit"
        )


@attrs.define(kw_only=True, repr=False, eq=False)
class MessageCounts(Record):
    user: int = 0
    assistant: int = 0
    total: int = 0


@attrs.define(kw_only=True, repr=False, eq=False)
class Timings(Record):
    per_turn_ms: list[float] = attrs.Factory(list)
    avg_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None

    @classmethod
    def from_turns(cls, per_turn_ms: list[float]) -> Timings:
        if not per_turn_ms:
            return cls()
        ordered = sorted(per_turn_ms)
        return cls(
            per_turn_ms=[round(ms, 1) for ms in per_turn_ms],
            avg_ms=round(sum(ordered) / len(ordered), 1),
            p50_ms=round(_percentile(ordered, 0.50), 1),
            p95_ms=round(_percentile(ordered, 0.95), 1),
            max_ms=round(ordered[-1], 1),
        )


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (what a latency report reader expects)."""
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without importing math
    return ordered[int(rank) - 1]


@attrs.define(kw_only=True, repr=False, eq=False)
class Usage(Record):
    """LLM usage summed over judge, simulator, extractor and model-target calls."""

    tokens: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    cost_usd: float | None = attrs.field(default=0.0, metadata={"keep_none": True})
    """What the calls cost in USD (:mod:`lamdis_core.pricing`); ``None`` when unknown: a
    model without a price was called (``unpriced`` names it). Never a made-up 0."""
    unpriced: list[str] = attrs.Factory(list)

    def add(self, other: Usage) -> None:
        self.tokens += other.tokens
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_calls += other.cached_calls
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd = round(self.cost_usd + other.cost_usd, 9)
        for model in other.unpriced:
            if model not in self.unpriced:
                self.unpriced.append(model)


@attrs.define(kw_only=True, repr=False, eq=False)
class Artifacts(Record):
    """What a test left behind: its log, and the results of its request steps by step key
    (``{output, status, latencyMs}``, what ``steps.<key>`` read), kept so a recorded run can
    be re-judged without calling anything again."""

    log: list[str] = attrs.Factory(list)
    requests: dict[str, Any] = attrs.Factory(dict)


@attrs.define(kw_only=True, repr=False, eq=False)
class Item(Record):
    """The result of one test against one assistant (one repetition)."""

    test_id: str
    test_name: str
    assistant: str
    status: ItemStatus
    file: str | None = None
    repeat: int = 0
    transcript: list[TranscriptEntry] = attrs.Factory(list)
    message_counts: MessageCounts = attrs.Factory(MessageCounts)
    assertions: list[Check] = attrs.Factory(list)
    timings: Timings = attrs.Factory(Timings)
    judge_score: float | None = None
    usage: Usage = attrs.Factory(Usage)
    throttling: Throttling | None = None
    error: str | None = None
    artifacts: Artifacts = attrs.Factory(Artifacts)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def first_failure(self) -> Check | None:
        for check in self.assertions:
            if check.fails_test:
                return check
        return None


@attrs.define(kw_only=True, repr=False, eq=False)
class Totals(Record):
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0

    @classmethod
    def of(cls, items: Iterable[Item]) -> Totals:
        totals = cls()
        for item in items:
            totals.count(item.status)
        return totals

    def count(self, status: ItemStatus) -> None:
        if status is ItemStatus.PASSED:
            self.passed += 1
        elif status is ItemStatus.FAILED:
            self.failed += 1
        elif status is ItemStatus.SKIPPED:
            self.skipped += 1
        else:
            self.errors += 1

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors

    @property
    def pass_rate(self) -> float:
        judged = self.total - self.skipped
        return round(self.passed / judged, 4) if judged else 0.0


@attrs.define(kw_only=True, repr=False, eq=False)
class JudgeSummary(Record):
    """The judge's part of a run: who judged, the mean score, and ``unassessed``, the number
    of checks skipped because the judge could not assess them ("needs an LLM judge");
    ``rate_limited`` and ``backoff_ms``: the provider's 429/503 answers and the time spent
    backing off before retrying them."""

    avg_score: float | None = None
    provider: str | None = None
    offline: bool = False
    unassessed: int = 0
    rate_limited: int = 0
    backoff_ms: float = 0.0

    @classmethod
    def of(
        cls,
        items: Iterable[Item],
        *,
        provider: str | None,
        offline: bool,
        rate_limited: int = 0,
        backoff_ms: float = 0.0,
    ) -> JudgeSummary:
        tally = ScoreTally()
        for item in items:
            tally.add(item)
        return tally.summary(
            provider=provider, offline=offline, rate_limited=rate_limited, backoff_ms=backoff_ms
        )


class ScoreTally:
    """The judge's figures over items fed one at a time (:meth:`JudgeSummary.of` in parts)."""

    def __init__(self) -> None:
        self.scores: list[float] = []
        self.unassessed = 0

    def add(self, item: Item) -> None:
        if item.judge_score is not None:
            self.scores.append(item.judge_score)
        self.unassessed += sum(1 for check in item.assertions if check.skipped)

    def summary(
        self,
        *,
        provider: str | None,
        offline: bool,
        rate_limited: int = 0,
        backoff_ms: float = 0.0,
    ) -> JudgeSummary:
        return JudgeSummary(
            avg_score=_mean(self.scores),
            provider=provider,
            offline=offline,
            unassessed=self.unassessed,
            rate_limited=rate_limited,
            backoff_ms=round(backoff_ms, 1),
        )


@attrs.define(kw_only=True, repr=False, eq=False)
class Progress(Record):
    done: int = 0
    total: int = 0
    current: str | None = None


@attrs.define(kw_only=True, repr=False, eq=False)
class WebhookDelivery(Record):
    url: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None
    delivered_at: datetime | None = None


@attrs.define(kw_only=True, repr=False, eq=False)
class Run(Record):
    """A run of a suite (or of files) and, once finished, its results."""

    id: str | None = None
    org_id: str | None = None
    suite_id: str | None = None
    env_id: str | None = None
    trigger: Trigger = Trigger.MANUAL
    git_context: dict[str, Any] = attrs.Factory(dict)
    status: RunStatus = RunStatus.QUEUED
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    totals: Totals = attrs.Factory(Totals)
    judge: JudgeSummary = attrs.Factory(JudgeSummary)
    usage: Usage = attrs.Factory(Usage)
    progress: Progress = attrs.Factory(Progress)
    items: list[Item] = attrs.Factory(list)
    error: str | None = None
    stop_requested: bool = False
    webhook_url: str | None = None
    webhook: WebhookDelivery | None = None
    request: dict[str, Any] = attrs.Factory(dict)
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    seed: int | None = None
    """What the data generators drew from: given at start to reproduce a run, else picked by
    the worker and recorded when the run finishes."""


def run_status_for(totals: Totals, *, stopped: bool) -> RunStatus:
    """The final status of a run (docs/results.md): stopped, else failed, else partial, else passed."""
    if stopped:
        return RunStatus.STOPPED
    if totals.failed or totals.errors:
        return RunStatus.FAILED
    if totals.skipped:
        return RunStatus.PARTIAL
    return RunStatus.PASSED


def average_score(items: Iterable[Item]) -> float | None:
    return _mean([i.judge_score for i in items if i.judge_score is not None])


def _mean(scores: list[float]) -> float | None:
    return round(sum(scores) / len(scores), 4) if scores else None


def unassessed_checks(items: Iterable[Item]) -> int:
    """Checks the judge could not assess, over ``items`` (every report counts these)."""
    return sum(1 for item in items for check in item.assertions if check.skipped)
