"""The report writers: JSON summary, JUnit XML and Markdown, over hand-built results."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from lamdis_core.domain.results import (
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    MessageCounts,
    Timings,
    Totals,
    TranscriptEntry,
    Usage,
    average_score,
    run_status_for,
)
from lamdis_core.engine.runner import RunResult
from lamdis_core.reports import (
    OFFLINE_JUDGE_WARNING,
    build_summary,
    render_json,
    render_junit,
    render_markdown,
    summary_rows,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _item(
    test_id: str,
    status: ItemStatus,
    *,
    assistant: str = "dev-v1",
    repeat: int = 0,
    checks: list[Check] | None = None,
    error: str | None = None,
    score: float | None = None,
    turns_ms: tuple[float, ...] = (100.0, 300.0),
    reply: str = "Index funds spread risk.",
    file: str = "tests/basics.json",
) -> Item:
    transcript = []
    for n, _ in enumerate(turns_ms):
        transcript.append(TranscriptEntry(role="user", content=f"question {n + 1}"))
        transcript.append(
            TranscriptEntry(role="assistant", content=reply if n == len(turns_ms) - 1 else "ok")
        )
    return Item(
        test_id=test_id,
        test_name=f"Test {test_id}",
        assistant=assistant,
        status=status,
        file=file,
        repeat=repeat,
        transcript=transcript,
        message_counts=MessageCounts(
            user=len(turns_ms), assistant=len(turns_ms), total=2 * len(turns_ms)
        ),
        assertions=checks or [],
        timings=Timings.from_turns(list(turns_ms)),
        judge_score=score,
        error=error,
        started_at=T0,
        finished_at=T0 + timedelta(milliseconds=sum(turns_ms) + 5),
    )


def _result(items: list[Item], *, offline: bool = True, stopped: bool = False) -> RunResult:
    totals = Totals.of(items)
    return RunResult(
        items=items,
        totals=totals,
        status=run_status_for(totals, stopped=stopped),
        judge=JudgeSummary(
            avg_score=average_score(items),
            provider="offline" if offline else "openai:gpt-4o-mini",
            offline=offline,
        ),
        usage=Usage(tokens=1234, calls=7),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1.5),
        stopped=stopped,
    )


FAILING_CHECK = Check(
    type="includes",
    name="mentions diversification",
    passed=False,
    details={"missing": ["diversification"], "reason": "missing term 'diversification'"},
)
JUDGE_CHECK = Check(
    type="assistant_check",
    passed=True,
    details={"score": 0.9, "threshold": 0.75, "reasoning": "heuristic: keywords matched"},
)


@pytest.fixture
def mixed() -> RunResult:
    return _result(
        [
            _item("ok", ItemStatus.PASSED, checks=[JUDGE_CHECK], score=0.9),
            _item(
                "bad",
                ItemStatus.FAILED,
                checks=[JUDGE_CHECK, FAILING_CHECK],
                reply='Buy <GME> & "hold"',
            ),
            _item(
                "down", ItemStatus.ERROR, error="HTTP 500 from http://127.0.0.1:1/chat", turns_ms=()
            ),
            _item("later", ItemStatus.SKIPPED, turns_ms=()),
        ]
    )


# --- JSON --------------------------------------------------------------------------------


def test_json_summary_keeps_the_lamdis_runs_keys(mixed: RunResult) -> None:
    """The keys lamdis-runs answers with are present with the same meaning."""
    data = json.loads(render_json(mixed, files=["examples/configs/tests/basics.json"]))
    assert data["file"] == "examples/configs/tests/basics.json"
    assert data["totals"] == {"passed": 1, "failed": 1, "skipped": 1, "errors": 1, "total": 4}
    assert data["passRate"] == pytest.approx(1 / 3, abs=1e-4)
    assert data["judge"]["avgScore"] == pytest.approx(0.9)
    assert [i["testId"] for i in data["items"]] == ["ok", "bad", "down", "later"]
    assert data["items"][1]["assertions"][1]["pass"] is False
    assert data["items"][0]["timings"]["p95Ms"] == 300.0


def test_json_summary_adds_status_usage_timings_judge_and_warnings(mixed: RunResult) -> None:
    """Our richer fields: status, usage, duration, judge provider and the offline warning."""
    data = build_summary(mixed, files=["a.json", "b.json"], warnings=["env var X missing"])
    assert data["file"] == "a.json, b.json"
    assert data["status"] == "failed"
    assert data["usage"]["tokens"] == 1234
    assert data["usage"]["calls"] == 7
    assert data["durationMs"] == 1500.0
    assert data["judge"] == {
        "avgScore": 0.9,
        "provider": "offline",
        "offline": True,
        "unassessed": 0,
        "rateLimited": 0,
        "backoffMs": 0.0,
    }
    assert data["warnings"] == ["env var X missing", OFFLINE_JUDGE_WARNING]
    assert data["startedAt"] == "2026-01-02T03:04:05Z"
    by_id = {t["testId"]: t for t in data["tests"]}
    assert by_id["bad"]["failure"] == "mentions diversification: missing term 'diversification'"
    assert by_id["down"]["failure"].startswith("error: HTTP 500")


def test_json_summary_reports_pass_rate_per_test_when_repeated() -> None:
    """With --repeat each test x assistant gets runs, passed and passRate."""
    items = [
        _item("flaky", ItemStatus.PASSED, repeat=0),
        _item("flaky", ItemStatus.FAILED, repeat=1, checks=[FAILING_CHECK]),
        _item("flaky", ItemStatus.PASSED, repeat=2),
        _item("solid", ItemStatus.PASSED, repeat=0),
        _item("solid", ItemStatus.PASSED, repeat=1),
        _item("solid", ItemStatus.PASSED, repeat=2),
    ]
    data = build_summary(_result(items, offline=False), repeat=3)
    by_id = {t["testId"]: t for t in data["tests"]}
    assert by_id["flaky"]["runs"] == 3
    assert by_id["flaky"]["passed"] == 2
    assert by_id["flaky"]["passRate"] == pytest.approx(0.6667)
    assert by_id["flaky"]["status"] == "flaky"  # mixed outcomes: flaky, gated by pass rate
    assert by_id["solid"]["passRate"] == 1.0
    assert data["repeat"] == 3
    assert data["warnings"] == []  # an LLM judge: no offline warning


def test_no_offline_warning_when_nothing_semantic_ran() -> None:
    """Deterministic checks alone never trigger the offline-judge warning."""
    result = _result([_item("kw", ItemStatus.FAILED, checks=[FAILING_CHECK])], offline=True)
    assert build_summary(result)["warnings"] == []
    assert OFFLINE_JUDGE_WARNING not in render_markdown(result)


# --- JUnit -------------------------------------------------------------------------------


def test_junit_has_one_case_per_item_with_failure_error_and_skipped(mixed: RunResult) -> None:
    """failure carries the check, reason and last exchange; error and skipped are marked."""
    root = ET.fromstring(render_junit(mixed))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "4",
        "1",
        "1",
        "1",
    )
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["dev-v1"]
    cases = {c.get("name"): c for c in suites[0].findall("testcase")}
    assert set(cases) == {"Test ok", "Test bad", "Test down", "Test later"}
    assert cases["Test ok"].find("failure") is None
    assert float(cases["Test ok"].get("time")) == pytest.approx(0.405)
    failure = cases["Test bad"].find("failure")
    assert failure is not None
    assert failure.get("type") == "includes"
    assert "mentions diversification" in failure.get("message", "")
    assert "missing term 'diversification'" in failure.text
    assert (
        'assistant: Buy <GME> & "hold"' in failure.text
    )  # escaped in the file, intact when parsed
    error = cases["Test down"].find("error")
    assert error is not None
    assert "HTTP 500" in error.get("message", "")
    assert cases["Test later"].find("skipped") is not None
    props = {p.get("value") for p in suites[0].iter("property") if p.get("name") == "warning"}
    assert props == {OFFLINE_JUDGE_WARNING}


def test_junit_groups_by_file_and_names_repeats() -> None:
    """group_by=file gives a suite per file; repeats get distinct case names."""
    items = [
        _item("a", ItemStatus.PASSED, file="x.json", assistant="one"),
        _item("a", ItemStatus.PASSED, file="x.json", assistant="one", repeat=1),
        _item("b", ItemStatus.PASSED, file="y.json", assistant="two"),
    ]
    root = ET.fromstring(render_junit(_result(items), group_by="file"))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"x.json", "y.json"}
    names = [c.get("name") for c in suites["x.json"].findall("testcase")]
    assert names == ["Test a [run 1]", "Test a [run 2]"]
    assert suites["y.json"].find("testcase").get("classname") == "two"


def test_junit_survives_control_characters_in_replies() -> None:
    """A reply with bytes XML 1.0 forbids still yields a parseable document."""
    bad = _item("ctl", ItemStatus.FAILED, checks=[FAILING_CHECK], reply="bell\x07 null\x00 end")
    root = ET.fromstring(render_junit(_result([bad])))
    text = root.find("testsuite/testcase/failure").text
    assert "bell\ufffd null\ufffd end" in text


# --- Markdown ----------------------------------------------------------------------------


def test_markdown_table_has_every_column_and_the_offline_banner(mixed: RunResult) -> None:
    """Test, assistant, status, turns, p95, score and first failing check; warning on top."""
    md = render_markdown(mixed)
    assert OFFLINE_JUDGE_WARNING in md
    assert md.index(OFFLINE_JUDGE_WARNING) < md.index("| Test |")
    header = next(line for line in md.splitlines() if line.startswith("| Test"))
    assert (
        header
        == "| Test | Assistant | Status | Turns | p95 latency | Judge score | First failing check |"
    )
    bad = next(line for line in md.splitlines() if line.startswith("| Test bad"))
    cells = [c.strip() for c in bad.strip("|").split(" | ")]
    assert cells[:6] == ["Test bad", "dev-v1", "❌ failed", "2", "300 ms", ""]
    assert cells[6] == "mentions diversification: missing term 'diversification'"
    assert "1 passed, 1 failed, 1 errors, 1 skipped" in md
    assert "1234 tokens, 7 calls" in md


def test_markdown_escapes_pipes_and_shows_pass_rate_when_repeated() -> None:
    """A pipe in a reason cannot break the table; repeats add a pass-rate column."""
    check = Check(type="regex", passed=False, details={"reason": "no match for a|b\nsecond line"})
    items = [
        _item("r", ItemStatus.FAILED, checks=[check]),
        _item("r", ItemStatus.PASSED, repeat=1),
    ]
    md = render_markdown(_result(items, offline=False))
    row = next(line for line in md.splitlines() if line.startswith("| Test r"))
    assert "no match for a\\|b second line" in row
    assert "50%" in row
    assert "(1/2)" in row
    assert "Pass rate" in md


def test_summary_rows_take_the_worst_status_and_first_failure() -> None:
    """Rows group repeats; the first non-passing repeat names the failure."""
    items = [
        _item("t", ItemStatus.PASSED),
        _item("t", ItemStatus.ERROR, repeat=1, error="timed out after 30000 ms"),
        _item("t", ItemStatus.FAILED, repeat=2, checks=[FAILING_CHECK]),
    ]
    (row,) = summary_rows(items)
    assert row.status is ItemStatus.ERROR
    assert row.failure == "error: timed out after 30000 ms"
    assert row.pass_rate == pytest.approx(0.3333)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"bare {name} in the JSON report")


def test_reports_of_half_an_emoji_and_nan_are_strict_and_encodable() -> None:
    """An item the engine did not clean (built by hand here) still gives valid reports."""
    check = Check(
        type="json_path",
        passed=False,
        details={"actual": float("nan"), "limit": float("inf"), "name": "x\udc00y"},
    )
    item = _item(
        "t\ud83d",
        ItemStatus.FAILED,
        checks=[check],
        reply="half an emoji \ud83d and a bell \x07",
        error=None,
    )
    result = _result([item])

    text = render_json(result, files=["f.json"])
    text.encode("utf-8")
    summary = json.loads(text, parse_constant=_refuse_constant)
    details = summary["items"][0]["assertions"][0]["details"]
    assert details == {"actual": None, "limit": None, "name": "x\ufffdy"}
    assert summary["items"][0]["testId"] == "t\ufffd"

    xml = render_junit(result)
    root = ET.fromstring(xml.encode("utf-8"))
    out = root.find(".//system-out")
    assert out is not None and "half an emoji \ufffd and a bell \ufffd" in (out.text or "")

    markdown = render_markdown(result)
    markdown.encode("utf-8")
    assert "t\ufffd" in markdown
