"""The JSON summary: lamdis-runs' shape, with our richer fields added.

lamdis-runs' ``run-file`` answers ``{file, totals, passRate, judge: {avgScore}, items[]}``;
every one of those keys is here with the same meaning, so scripts written against it keep
working. Added: ``status``, ``files``, ``startedAt``/``finishedAt``/``durationMs``,
``judge.provider``/``judge.offline``/``judge.unassessed`` (checks skipped because the judge
could not assess them), ``usage``, ``throttling`` (answers that said slow down, time backing
off and queued for the host's limit), ``warnings``, ``repeat``, ``stopped``, ``tests`` (one
entry per test x assistant with its pass rate, Wilson 95% interval, pass^k, ``flaky`` and
whether it met its minimum pass rate, which matter with ``--repeat``) and ``gate`` (the
minimum pass rates, the flaky tests and those below their minimum).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.results import Throttling
from lamdis_core.reports.facts import ReportFacts
from lamdis_core.reports.summary import unassessed_note
from lamdis_core.sanitize import clean

if TYPE_CHECKING:
    from lamdis_core.engine.runner import RunResult

SCHEMA_VERSION = 1


def build_summary(
    result: RunResult,
    *,
    files: Sequence[str] = (),
    warnings: Sequence[str] = (),
    repeat: int = 1,
    suite_id: str | None = None,
    config_hashes: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    include_items: bool = True,
    facts: ReportFacts | None = None,
) -> dict[str, Any]:
    """The summary as a JSON-ready dict (camelCase keys).

    Args:
        result: what the engine produced.
        files: the paths the run was given (``file`` is the first, or all joined by ``, ``).
        warnings: configuration warnings to carry (the offline-judge warning is added here).
        repeat: how many times each test ran.
        suite_id: the suite, when one was run.
        config_hashes: per ``test@assistant``, hashes of the test and assistant configuration
            the run used (``lamdis diff`` and ``lamdis rejudge`` compare them).
        extra: more top-level keys (``rejudgedFrom``...).
        include_items: ``False`` leaves ``items`` empty (:func:`write_json` streams them).
        facts: the run's :class:`ReportFacts`, when the caller has them already.
    """
    if facts is None:
        facts = ReportFacts.of(result.items, result.gate)
    converter = default_converter()
    totals = result.totals
    all_warnings = list(warnings)
    offline = facts.offline_warning(judge_offline=result.judge.offline)
    if offline and offline not in all_warnings:
        all_warnings.append(offline)
    unassessed = unassessed_note(result.judge.unassessed)
    if unassessed:
        all_warnings.append(unassessed)
    duration_ms = (result.finished_at - result.started_at).total_seconds() * 1000
    rows = facts.rows
    tests = [
        {
            "testId": row.test_id,
            "testName": row.test,
            "assistant": row.assistant,
            **({"file": row.file} if row.file else {}),
            "status": row.outcome,
            "runs": row.runs,
            "passed": row.passed,
            "failed": row.tally.failed,
            "errors": row.tally.errors,
            "skipped": row.skipped,
            "passRate": row.pass_rate,
            "passRateInterval": list(row.interval) if row.interval else None,
            "passK": {"k": row.runs - row.skipped, "value": row.pass_k},
            "flaky": row.flaky,
            "minPassRate": row.min_pass_rate,
            "gatePassed": row.gate_passed,
            "turns": row.turns,
            "p95Ms": row.p95_ms,
            "judgeScore": row.judge_score,
            "judgeSpread": row.judge_spread,
            "failure": row.failure,
        }
        for row in rows
    ]
    summary: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "generator": {"name": "lamdis", "version": _version()},
        "file": files[0] if len(files) == 1 else ", ".join(files),
        "files": list(files),
        "suiteId": suite_id,
        "status": result.status.value,
        "stopped": result.stopped,
        "stopReason": result.stop_reason,
        # Written out by hand: the shared converter renames every ``passed`` field to
        # ``pass`` (right for checks), but lamdis-runs' totals say ``passed``.
        "totals": {
            "passed": totals.passed,
            "failed": totals.failed,
            "skipped": totals.skipped,
            "errors": totals.errors,
            "total": totals.total,
        },
        "passRate": totals.pass_rate,
        "judge": {
            "avgScore": result.judge.avg_score,
            "provider": result.judge.provider,
            "offline": result.judge.offline,
            "unassessed": result.judge.unassessed,
            "rateLimited": result.judge.rate_limited,
            "backoffMs": result.judge.backoff_ms,
        },
        "usage": converter.unstructure(result.usage),
        "throttling": _throttling(facts.throttling),
        "startedAt": converter.unstructure(result.started_at),
        "finishedAt": converter.unstructure(result.finished_at),
        "durationMs": round(duration_ms, 1),
        "repeat": repeat,
        "gate": {
            "minPassRate": result.gate.default,
            "perTest": dict(result.gate.per_test),
            "flaky": sum(1 for row in rows if row.flaky),
            "belowMinimum": [
                {"testId": row.test_id, "assistant": row.assistant}
                for row in rows
                if row.gate_passed is False
            ],
        },
        "seed": result.seed,
        "warnings": all_warnings,
        "tests": tests,
        "configHashes": dict(config_hashes or {}),
        **dict(extra or {}),
        "items": [converter.unstructure(item) for item in result.items] if include_items else [],
    }
    if suite_id is None:
        del summary["suiteId"]
    return summary


def render_json(
    result: RunResult,
    *,
    files: Sequence[str] = (),
    warnings: Sequence[str] = (),
    repeat: int = 1,
    suite_id: str | None = None,
    indent: int | None = 2,
    config_hashes: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    facts: ReportFacts | None = None,
) -> str:
    """:func:`build_summary` as strict JSON text, newline-terminated.

    Strict means any JSON parser reads it and it encodes as UTF-8: a lone surrogate reads
    U+FFFD and a non-finite number (``NaN`` from a lenient API) reads ``null``.
    """
    out = io.StringIO()
    write_json(
        out,
        result,
        files=files,
        warnings=warnings,
        repeat=repeat,
        suite_id=suite_id,
        indent=indent,
        config_hashes=config_hashes,
        extra=extra,
        facts=facts,
    )
    return out.getvalue()


def write_json(
    out: TextIO,
    result: RunResult,
    *,
    files: Sequence[str] = (),
    warnings: Sequence[str] = (),
    repeat: int = 1,
    suite_id: str | None = None,
    indent: int | None = 2,
    config_hashes: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    facts: ReportFacts | None = None,
) -> None:
    """Write :func:`render_json`'s text to ``out``, one item at a time.

    The text is the same; but a run of thousands of items (``--repeat``) is never held as
    one tree of dicts plus one string, which took six times the items' own memory.
    """
    summary = build_summary(
        result,
        files=files,
        warnings=warnings,
        repeat=repeat,
        suite_id=suite_id,
        config_hashes=config_hashes,
        extra=extra,
        include_items=False,
        facts=facts,
    )
    head = _dumps(clean(summary), indent)
    # ``items`` is the last key and holds []: the items go in its place.
    closing = "[]}" if indent is None else "[]\n}"
    if not head.endswith(closing):  # pragma: no cover - build_summary puts items last
        raise AssertionError("the summary's last key must be items")
    if not result.items:
        out.write(head + "\n")
        return
    out.write(head[: -len(closing)] + "[")
    converter = default_converter()
    pad = "" if indent is None else "\n" + " " * (2 * indent)
    for n, item in enumerate(result.items):
        text = _dumps(clean(converter.unstructure(item)), indent)
        if indent is None:
            out.write((", " if n else "") + text)
        else:  # JSON strings hold no raw newline: every newline is the layout's
            out.write(("," if n else "") + pad + text.replace("\n", pad))
    out.write("]}\n" if indent is None else "\n" + " " * indent + "]\n}\n")


def _dumps(value: Any, indent: int | None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False, default=str)


def _throttling(total: Throttling) -> dict[str, Any]:
    return {
        "rateLimited": total.rate_limited,
        "backoffMs": round(total.backoff_ms, 1),
        "queuedMs": round(total.queued_ms, 1),
    }


def _version() -> str:
    # The package's own constant (a unit test keeps it equal to the installed metadata):
    # importing importlib.metadata for it cost ~40 ms of every `lamdis run`.
    from lamdis_core import __version__

    return __version__


def config_hashes(entries: Sequence[Any]) -> dict[str, dict[str, str]]:
    """Per ``test@assistant`` of plan entries: sha256 of the test's and the assistant's
    configuration as loaded (canonical JSON), so two runs can tell whether a test changed."""
    import hashlib

    converter = default_converter()
    # Every test of a suite shares its assistant object: hash each object once.
    digests: dict[int, str] = {}

    def digest(value: Any) -> str:
        known = digests.get(id(value))
        if known is None:
            text = json.dumps(
                converter.unstructure(value), sort_keys=True, ensure_ascii=False, default=str
            )
            known = digests[id(value)] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return known

    return {
        entry.key: {"test": digest(entry.test), "assistant": digest(entry.assistant)}
        for entry in entries
    }
