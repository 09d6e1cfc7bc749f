"""The run page's content from a summary: every part the page promises, and every string an
assistant, a request step or a judge produced shown as text."""

from __future__ import annotations

from typing import Any

from lamdis_core.domain.results import (
    Artifacts,
    Check,
    Item,
    ItemStatus,
    Timings,
    TranscriptEntry,
)
from lamdis_http.ui import render_report, stylesheet

from tests.http._html import parse

XSS = "<img src=x onerror=alert(1)></script><script>alert(1)</script>"


def _summary(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "status": "failed",
        "totals": {"passed": 0, "failed": 1, "errors": 1, "skipped": 0, "total": 2},
        "passRate": 0.0,
        "judge": {"avgScore": 0.4, "provider": "openai", "offline": False},
        "usage": {"tokens": 120, "calls": 2, "costUsd": 0.01234},
        "durationMs": 1534.2,
        **extra,
    }


def _items() -> list[Item]:
    judged = Item(
        test_id="t1",
        test_name="refunds " + XSS,
        assistant="bot",
        status=ItemStatus.FAILED,
        transcript=[
            TranscriptEntry(role="user", content="refund?"),
            TranscriptEntry(
                role="assistant",
                content=XSS,
                latency_ms=812.4,
                ttft_ms=95.0,
                tool_calls=[{"name": "lookup", "arguments": {"q": XSS}}],
            ),
        ],
        assertions=[
            Check(
                type="assistant_check",
                subtype="judge",
                name="polite",
                passed=False,
                details={
                    "score": 0.4,
                    "threshold": 0.75,
                    "reasoning": "judge says " + XSS,
                    "rubric": "is polite",
                    "transcriptEntries": 2,
                },
            )
        ],
        timings=Timings(per_turn_ms=[812.4]),
        judge_score=0.4,
        artifacts=Artifacts(
            log=["request lookup: GET https://api.example/x -> 200 in 12 ms"],
            requests={"lookup": {"status": 200, "latencyMs": 12.0, "output": {"body": XSS}}},
        ),
    )
    broken = Item(
        test_id="t2",
        test_name="target down",
        assistant="bot",
        status=ItemStatus.ERROR,
        error="Traceback line 1\n" + XSS + "\nline 3",
        assertions=[Check(type="includes", passed=False, details={"reasoning": "no reply"})],
    )
    return [judged, broken]


def test_the_page_shows_header_transcript_checks_requests_and_errors_as_text() -> None:
    html = render_report(
        _summary(gitContext={"sha": "abc123", "branch": XSS}, warnings=[XSS]), _items()
    )
    tree = parse(html)
    assert not list(tree.iter("img")) and not list(tree.iter("script"))
    assert "<img" not in html and "<script" not in html

    assert tree.by_id("run-judge").text() == "0.40 (openai)"
    assert tree.by_id("run-duration").text() == "1534 ms"
    assert tree.by_id("run-usage").text() == "120 tokens, 2 calls, $0.0123"
    git = tree.by_id("run-git").text()
    assert "abc123" in git and XSS in git
    assert XSS in tree.by_class("warnings")[0].text()

    first = tree.by_id("item-1")
    assert "open" in first.attrs and XSS in next(first.iter("summary")).text()
    reply = first.by_class("turn-assistant")[0]
    assert reply.by_class("content")[0].text() == XSS
    assert reply.by_class("latency")[0].text() == "812 ms · first token 95 ms"
    assert XSS in reply.by_class("tool-call")[0].text()
    check = reply.by_class("check-failed")[0].text()
    assert "polite" in check and "score 0.40 / threshold 0.75" in check
    assert "judge says " + XSS in check and "Rubric: is polite" in check
    assert not first.by_class("turn-user")[0].by_class("check")

    request = list(first.by_class("requests")[0].iter("tr"))[1].text()
    assert "lookup" in request and "200" in request and "12 ms" in request
    assert XSS in request
    assert "GET https://api.example/x -> 200" in first.by_class("log")[0].text()

    second = tree.by_id("item-2")
    assert second.by_class("error")[0].text() == "Traceback line 1\n" + XSS + "\nline 3"
    # No transcript entry to put it beside: listed with the item's checks.
    assert "no reply" in second.by_class("checks")[0].text()
    assert "No conversation was recorded." in second.text()


def test_a_summary_with_damaged_header_fields_still_renders_what_it_can() -> None:
    summary = _summary(totals="garbage", judge=None, usage=[1], passRate="x", gitContext=7)
    tree = parse(render_report(summary, _items()))
    assert tree.by_id("run-usage").text() == "0 tokens, 0 calls"
    assert tree.by_id("run-totals").text() == "0 passed, 0 failed, 0 errors, 0 skipped of 0"
    assert tree.by_id("run-pass-rate").text() == "—"
    assert tree.by_id("run-judge").text() == "—"
    assert len(list(tree.by_id("items").iter("tr"))) == 3


def test_an_unknown_cost_is_said_not_shown_as_zero() -> None:
    summary = _summary(usage={"tokens": 50, "calls": 1, "costUsd": None})
    tree = parse(render_report(summary, _items()))
    assert tree.by_id("run-usage").text() == "50 tokens, 1 calls, cost unknown"


def test_the_stylesheet_cannot_close_its_style_element() -> None:
    """It is inlined unescaped in the report (the one string marked safe), so it must be
    ours and free of markup."""
    css = stylesheet()
    assert "<" not in css and "url(" not in css and "@import" not in css
