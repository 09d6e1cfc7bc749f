"""Re-judging a recorded run: new rubrics, thresholds or judge, without calling the assistant.

A JSON summary written by ``lamdis run`` holds every item's transcript, its request-step
results (``artifacts.requests``), its checks and, for each rubric check, what the judge was
asked (rubric, scope, threshold, how much of the transcript, persona, objective). That is
enough to ask a judge again. Deterministic checks (``includes``, ``regex``, ``json_path``,
``latency``, ``extract``...) keep their recorded results: the conversation they checked has
not changed. An iterative test's conversation is not replayed either; its final rubric is
re-judged on the recorded transcript.

Items that could not run (the target was down, the run was stopped, the test was disabled)
stay as they were: there is no conversation to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
import cattrs

from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.errors import JudgeError, LamdisError
from lamdis_core.domain.results import (
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    Totals,
    Usage,
)
from lamdis_core.engine.judging import (
    JUDGE_CHECK_TYPES,
    evaluate_sampled,
    item_status,
    judge_check,
    judge_error_check,
)
from lamdis_core.engine.runner import RunResult
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.ports.judge import ConversationTurn, Judge, JudgeRequest
from lamdis_core.reports.json_report import SCHEMA_VERSION
from lamdis_core.reports.stats import PassRateGate, RepeatStats, gated_status

ANY_TEST = "*"
"""The key in a rubric override file that applies to every test."""


class SummaryFormatError(LamdisError):
    """A file is not a lamdis JSON summary this version can read; the message says why."""


@attrs.frozen(kw_only=True)
class RubricOverride:
    """A new rubric and/or threshold for one check."""

    rubric: str | None = None
    threshold: float | None = None


def check_key(check: Check) -> str:
    """How a rubric override names a check: its ``name``; ``judgeConfig`` for a test's
    ``judgeConfig`` (scripted or iterative); else ``steps[<index>]``."""
    if check.type == "judge" or check.name == "judgeConfig":
        return "judgeConfig"
    if check.name:
        return check.name
    return f"steps[{check.details.get('step', '?')}]"


def read_summary(data: Any, *, source: str = "the summary") -> tuple[list[Item], dict[str, Any]]:
    """The items of a JSON summary, structured, and the summary itself.

    Raises:
        SummaryFormatError: not a lamdis summary, or one written by a newer lamdis.
    """
    expected = (
        "expected the JSON summary `lamdis run` writes (--json, or summary.json in the results "
        f"folder), with schemaVersion 1 to {SCHEMA_VERSION} and items[]"
    )
    if not isinstance(data, dict):
        raise SummaryFormatError(f"{source} is not a JSON object; {expected}")
    version = data.get("schemaVersion")
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not isinstance(data.get("items"), list)
    ):
        raise SummaryFormatError(
            f"{source} is not a lamdis summary (no schemaVersion and items[]); {expected}"
        )
    generator = data.get("generator")
    if isinstance(generator, dict) and generator.get("name") not in (None, "lamdis"):
        raise SummaryFormatError(
            f"{source} was written by {generator.get('name')!r}, not lamdis; {expected}"
        )
    if version > SCHEMA_VERSION:
        raise SummaryFormatError(
            f"{source} has schemaVersion {version}, newer than this lamdis reads "
            f"({SCHEMA_VERSION}); upgrade lamdis to read it"
        )
    if version < 1:
        raise SummaryFormatError(f"{source} has schemaVersion {version}; {expected}")
    converter = default_converter()
    items: list[Item] = []
    for index, raw in enumerate(data["items"]):
        try:
            items.append(converter.structure(raw, Item))
        except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
            raise SummaryFormatError(
                f"{source} items[{index}] is not a lamdis item ({type(exc).__name__}); {expected}"
            ) from exc
    return items, data


def _rejudgeable(item: Item) -> bool:
    if item.status is ItemStatus.ERROR:
        return bool(item.error and item.error.startswith("a check could not be evaluated"))
    if item.status is ItemStatus.SKIPPED:
        return any(check.skipped for check in item.assertions)
    return True


def _override_for(
    overrides: Mapping[str, Mapping[str, RubricOverride]], item: Item, check: Check
) -> RubricOverride | None:
    key = check_key(check)
    for test_key in (item.test_id, ANY_TEST):
        found = overrides.get(test_key, {}).get(key)
        if found is not None:
            return found
    return None


async def rejudge_item(
    item: Item,
    judge: Judge,
    *,
    overrides: Mapping[str, Mapping[str, RubricOverride]] | None = None,
    samples: int | None = None,
    require_llm_judge: bool = False,
) -> Item:
    """``item`` with every rubric check asked again of ``judge``; the rest as recorded."""
    if not _rejudgeable(item):
        return item
    usage = Usage()
    scores: list[float] = []
    checks: list[Check] = []
    for check in item.assertions:
        details = check.details
        length = details.get("transcriptLength")
        if check.type not in JUDGE_CHECK_TYPES or "rubric" not in details or length is None:
            checks.append(check)
            continue
        override = _override_for(overrides or {}, item, check)
        rubric = str(override.rubric if override and override.rubric else details["rubric"])
        threshold = float(
            override.threshold
            if override and override.threshold is not None
            else details.get("threshold", 0.75)
        )
        request = JudgeRequest(
            rubric=rubric,
            threshold=threshold,
            transcript=[
                ConversationTurn(role=t.role, content=t.content)
                for t in item.transcript[: int(length)]
            ],
            scope="transcript" if details.get("scope") == "transcript" else "last",
            persona=details.get("persona"),
            objective=details.get("objective"),
        )
        recorded_samples = details.get("samples")
        k = samples or (len(recorded_samples) if isinstance(recorded_samples, list) else 1)
        extra = {key: details[key] for key in ("step", "turns") if key in details}
        try:
            verdict = await evaluate_sampled(judge, request, k)
        except JudgeError as exc:
            checks.append(judge_error_check(check.name, request, str(exc)))
            continue
        usage.add(verdict.usage)
        if verdict.unassessed is None:
            scores.append(verdict.score)
        new = judge_check(
            check.type,
            check.subtype or "judge",
            check.name,
            check.severity,
            verdict,
            request,
            require_llm_judge=require_llm_judge,
            **extra,
        )
        new.details["previous"] = {
            "pass": check.passed,
            "score": details.get("score"),
            "model": details.get("model"),
            **({"rubric": details["rubric"]} if details["rubric"] != rubric else {}),
        }
        checks.append(new)
    status, error = item_status(checks, None)
    return attrs.evolve(
        item,
        status=status,
        error=error,
        assertions=checks,
        judge_score=round(sum(scores) / len(scores), 4) if scores else item.judge_score,
        usage=usage,
    )


async def rejudge(
    items: list[Item],
    judge: Judge,
    *,
    overrides: Mapping[str, Mapping[str, RubricOverride]] | None = None,
    samples: int | None = None,
    require_llm_judge: bool = False,
    gate: PassRateGate | None = None,
    clock: Clock | None = None,
) -> RunResult:
    """Re-judge recorded items (see the module docstring) into a new run result."""
    clock = clock or SystemClock()
    started: datetime = clock.now()
    new_items = [
        await rejudge_item(
            item,
            judge,
            overrides=overrides,
            samples=samples,
            require_llm_judge=require_llm_judge,
        )
        for item in items
    ]
    usage = Usage()  # what the re-judging cost; the assistant was not called
    for old, new in zip(items, new_items, strict=True):
        if new is not old:
            usage.add(new.usage)
    gate = gate or PassRateGate()
    return RunResult(
        items=new_items,
        totals=Totals.of(new_items),
        status=gated_status(RepeatStats.of(new_items), gate, stopped=False),
        judge=JudgeSummary.of(new_items, provider=judge.name, offline=judge.offline),
        usage=usage,
        started_at=started,
        finished_at=clock.now(),
        gate=gate,
    )


def unknown_override_targets(
    items: list[Item], overrides: Mapping[str, Mapping[str, RubricOverride]]
) -> list[str]:
    """Overrides that name a test or check the summary does not have (a typo would
    otherwise change nothing, silently)."""
    known: dict[str, set[str]] = {}
    for item in items:
        keys = known.setdefault(item.test_id, set())
        keys.update(check_key(c) for c in item.assertions if c.type in JUDGE_CHECK_TYPES)
    every = set().union(*known.values()) if known else set()
    problems: list[str] = []
    for test_id, checks in overrides.items():
        if test_id != ANY_TEST and test_id not in known:
            problems.append(
                f"test {test_id!r} is not in the summary (tests: {', '.join(sorted(known))})"
            )
            continue
        available = every if test_id == ANY_TEST else known[test_id]
        for key in checks:
            if key not in available:
                problems.append(
                    f"{test_id}: no rubric check {key!r} (rubric checks: "
                    f"{', '.join(sorted(available)) or 'none'})"
                )
    return problems


def parse_overrides(data: Any, *, source: str) -> dict[str, dict[str, RubricOverride]]:
    """A rubric override file: ``{<test id or "*">: {<check>: "new rubric" | {rubric?,
    threshold?}}}``; checks are named as :func:`check_key` says.

    Raises:
        SummaryFormatError: the file does not have that shape.
    """
    shape = (
        'expected {"<test id or *>": {"<check name, judgeConfig or steps[i]>": "rubric" or '
        '{"rubric": "...", "threshold": 0.8}}}'
    )
    if not isinstance(data, dict):
        raise SummaryFormatError(f"{source}: {shape}")
    out: dict[str, dict[str, RubricOverride]] = {}
    for test_id, checks in data.items():
        if not isinstance(checks, dict):
            raise SummaryFormatError(f"{source} at {test_id}: {shape}")
        for key, value in checks.items():
            where = f"{source} at {test_id}.{key}"
            if isinstance(value, str):
                override = RubricOverride(rubric=value)
            elif isinstance(value, dict) and set(value) <= {"rubric", "threshold"} and value:
                rubric, threshold = value.get("rubric"), value.get("threshold")
                if rubric is not None and not isinstance(rubric, str):
                    raise SummaryFormatError(f"{where}: rubric must be text")
                if threshold is not None and (
                    isinstance(threshold, bool)
                    or not isinstance(threshold, int | float)
                    or not 0 <= threshold <= 1
                ):
                    raise SummaryFormatError(
                        f"{where}: threshold must be a number between 0 and 1, got {threshold!r}"
                    )
                override = RubricOverride(
                    rubric=rubric, threshold=None if threshold is None else float(threshold)
                )
            else:
                raise SummaryFormatError(f"{where}: {shape}")
            out.setdefault(str(test_id), {})[str(key)] = override
    return out
