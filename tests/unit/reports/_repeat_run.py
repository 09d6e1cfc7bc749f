"""A hand-built ``--repeat 4`` run that touches every branch the reports have: flaky tests
above and below their minimum pass rate, errors, skipped repeats, sampled judge scores,
throttling, unpriced usage, two assistants and two files, and text XML cannot hold.

``golden/`` holds the reports the in-memory writers produced for it before they were made to
stream (lamdis aceb242); ``test_report_golden.py`` checks the streaming writers still
produce those bytes, from a list and from items spilled to disk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lamdis_core.domain.results import (
    Artifacts,
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    MessageCounts,
    RunStatus,
    Throttling,
    Timings,
    Totals,
    TranscriptEntry,
    Usage,
    average_score,
    unassessed_checks,
)
from lamdis_core.engine.runner import RunResult
from lamdis_core.reports.stats import PassRateGate

T0 = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
REPEAT = 4
GATE = PassRateGate(default=0.5, per_test={"refunds": 0.9})


def _checks(test: int, rep: int, status: ItemStatus) -> list[Check]:
    score = round(0.31 + 0.17 * ((test * 7 + rep * 3) % 5), 2)
    checks = [
        Check(
            type="assistant_check",
            name=None if test % 2 else f"rubric {test}",
            passed=status is ItemStatus.PASSED,
            details={
                "score": score,
                "threshold": 0.7,
                "reasoning": f"judged {test}/{rep}: \x07 bell & <tag>",
                "samples": [score, score + 0.1, score - 0.05],
                "spread": round(0.1 + 0.05 * (rep % 3), 2),
            },
        ),
        Check(type="includes", subtype="any", passed=True, details={"found": ["risk"]}),
    ]
    if status is ItemStatus.FAILED:
        checks.append(
            Check(
                type="regex",
                passed=False,
                severity="error",
                details={"pattern": "\\d+", "value": 1.5, "nested": {"b": 2, "a": [1, None]}},
            )
        )
        checks.append(Check(type="latency", passed=False, severity="warn", details={}))
    if test % 3 == 0:
        checks.append(
            Check(type="assistant_check", name="polite", passed=False, skipped=True, details={})
        )
    return checks


def _status(test: int, rep: int) -> ItemStatus:
    pattern = {
        0: "PPPP",  # passed every time
        1: "PFPP",  # flaky, above 0.5
        2: "FFFP",  # flaky, below 0.5
        3: "EEEE",  # error every time
        4: "PSSP",  # some repeats skipped
        5: "FFFF",
        6: "PPFP",  # 'refunds' (minimum 0.9): flaky, below
    }[test % 7]
    return {"P": ItemStatus.PASSED, "F": ItemStatus.FAILED, "E": ItemStatus.ERROR}.get(
        pattern[rep], ItemStatus.SKIPPED
    )


def _item(test: int, assistant: str, rep: int) -> Item:
    status = _status(test, rep)
    test_id = "refunds" if test % 7 == 6 else f"t{test:02d}"
    start = T0 + timedelta(seconds=test * 0.37 + rep * 1.13)
    if status is ItemStatus.SKIPPED:
        return Item(
            test_id=test_id,
            test_name=f"Test {test} — ünïcode",
            assistant=assistant,
            status=status,
            file=f"tests/file{test % 2}.yaml",
            repeat=rep,
            error="the run was stopped before this test started" if rep == 1 else None,
            artifacts=Artifacts(log=["stopped"] if rep == 1 else []),
            started_at=start,
            finished_at=start,
        )
    turns = [12.5 + test * 3.3 + rep * 0.7 + n * 1.01 for n in range(3)]
    transcript: list[TranscriptEntry] = [TranscriptEntry(role="system", content="be brief")]
    for n, ms in enumerate(turns):
        transcript.append(TranscriptEntry(role="user", content=f"question {n} | of {test}"))
        transcript.append(
            TranscriptEntry(
                role="assistant",
                content=f'answer {n}: buy <GME> & "hold" \x0b\ud83d end' if n == 2 else "ok",
                latency_ms=ms,
                ttft_ms=ms / 2 if test % 2 else None,
                chunks=3 if test % 2 else None,
                tool_calls=[{"name": "lookup", "arguments": {"id": test}}] if n == 1 else None,
            )
        )
    if status is ItemStatus.ERROR:
        transcript = transcript[:3]
        turns = turns[:1]
    checks = [] if status is ItemStatus.ERROR else _checks(test, rep, status)
    scores = [float(c.details["score"]) for c in checks if "score" in c.details]
    return Item(
        test_id=test_id,
        test_name=f"Test {test} — ünïcode",
        assistant=assistant,
        status=status,
        file=f"tests/file{test % 2}.yaml",
        repeat=rep,
        transcript=transcript,
        message_counts=MessageCounts(
            user=sum(1 for t in transcript if t.role == "user"),
            assistant=sum(1 for t in transcript if t.role == "assistant"),
            total=len(transcript),
        ),
        assertions=checks,
        timings=Timings.from_turns(turns),
        judge_score=round(sum(scores) / len(scores), 4) if scores else None,
        usage=Usage(
            tokens=100 + test,
            calls=2,
            prompt_tokens=80,
            completion_tokens=20 + test,
            cached_calls=rep % 2,
            cost_usd=None if test == 5 else 0.000123 * (test + 1),
            unpriced=["mystery-model"] if test == 5 else [],
        ),
        throttling=Throttling(rate_limited=1, backoff_ms=250.5, queued_ms=12.25)
        if test % 4 == 1
        else None,
        error="HTTP 500 from http://127.0.0.1:1/chat\nbody: <oops>"
        if status is ItemStatus.ERROR
        else None,
        artifacts=Artifacts(
            log=[f"turn {n}" for n in range(len(turns))],
            requests={"lookup": {"output": {"id": test}, "status": 200, "latencyMs": 3.5}},
        ),
        started_at=start,
        finished_at=start + timedelta(milliseconds=sum(turns) + 0.4),
    )


def repeat_items(tests: int = 9) -> list[Item]:
    """Plan order: each test against each assistant, then its repeats."""
    return [
        _item(test, assistant, rep)
        for test in range(tests)
        for assistant in ("dev-v1", "staging")
        for rep in range(REPEAT)
    ]


def repeat_result(items: object) -> RunResult:
    """The run over ``items`` (a list, or the same items spilled to disk)."""
    listed: list[Item] = list(items)  # type: ignore[call-overload]
    usage = Usage()
    for item in listed:
        usage.add(item.usage)
    return RunResult(
        items=items,  # type: ignore[arg-type]
        totals=Totals.of(listed),
        status=RunStatus.FAILED,
        gate=GATE,
        judge=JudgeSummary(
            avg_score=average_score(listed),
            provider="offline",
            offline=True,
            unassessed=unassessed_checks(listed),
            rate_limited=2,
            backoff_ms=1500.0,
        ),
        usage=usage,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=17.25),
        seed=424242,
        stop_reason="the judge budget of $0.01 would be exceeded",
    )


WARNINGS = ["env var X is not set | in tests/file0.yaml", "second \x1b warning"]


def render_all(result: RunResult, repeat: int) -> dict[str, str]:
    """Every report of ``result``, by name: the JSON summary (indented and compact), JUnit
    (by assistant and by file), Markdown, the HTML page and the console summary (plain, quiet
    as an interrupted run prints it, and through rich)."""
    import io

    from lamdis_core.reports import render_json, render_junit, render_markdown
    from lamdis_http.cli._console import Console, Stream
    from lamdis_http.cli._run import write_html

    kwargs = {
        "files": ["tests/file0.yaml", "tests/file1.yaml"],
        "warnings": WARNINGS,
        "repeat": repeat,
        "suite_id": "suite-1",
        "config_hashes": {"t00@dev-v1": {"test": "ab", "assistant": "cd"}},
    }
    reports = {
        "summary.json": render_json(result, **kwargs),  # type: ignore[arg-type]
        "summary-compact.json": render_json(result, indent=None, **kwargs),  # type: ignore[arg-type]
        "junit.xml": render_junit(result, warnings=WARNINGS),
        "junit-by-file.xml": render_junit(result, group_by="file", name="suite <x>"),
        "summary.md": render_markdown(result, title="lamdis run", warnings=WARNINGS),
    }
    page = io.StringIO()
    write_html(page, result, title="lamdis <run>", **kwargs)  # type: ignore[arg-type]
    reports["report.html"] = page.getvalue()
    for styled, quiet, name in (
        (False, False, "console.txt"),
        (False, True, "console-quiet.txt"),
        (True, False, "console-styled.txt"),
    ):
        text = io.StringIO()
        console = Console(quiet=quiet, total=len(result.items), out=Stream(text, styled=styled))
        console.summary(result, interrupted=quiet, written=["lamdis-results/summary.json"])
        reports[name] = text.getvalue()
    return reports


def golden_digests() -> dict[str, str]:
    """sha256 of every report of the repeat run and of its first repeats alone."""
    import hashlib

    items = repeat_items()
    runs = {
        "repeat": (repeat_result(items), REPEAT),
        "single": (repeat_result([i for i in items if i.repeat == 0]), 1),
    }
    return {
        f"{stem}-{name}": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        for stem, (result, repeat) in runs.items()
        for name, text in render_all(result, repeat).items()
    }


if __name__ == "__main__":  # python tests/unit/reports/_repeat_run.py > golden/reports.json
    import json

    print(json.dumps(golden_digests(), indent=2, sort_keys=True))
