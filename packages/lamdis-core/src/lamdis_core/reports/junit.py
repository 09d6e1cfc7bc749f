"""JUnit XML that GitHub (test-reporter actions), GitLab and Jenkins read.

One ``<testsuite>`` per assistant (or per file), one ``<testcase>`` per test x assistant
(x repeat). A failed test carries ``<failure>`` with the failing check, its reason and the
last exchange; an error item carries ``<error>``; a skipped one ``<skipped>``. Times are in
seconds. Text is made XML-safe: control characters XML 1.0 cannot hold are replaced, and
ElementTree escapes the rest.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Literal

from lamdis_core.domain.results import Item, ItemStatus
from lamdis_core.pricing import format_cost
from lamdis_core.reports.summary import (
    SummaryRow,
    check_label,
    check_reason,
    failure_text,
    last_exchange,
    offline_warning,
    summary_rows,
    unassessed_note,
)
from lamdis_core.sanitize import clean_text

if TYPE_CHECKING:
    from lamdis_core.engine.runner import RunResult

GroupBy = Literal["assistant", "file"]

# Characters XML 1.0 forbids even as references; an assistant reply can contain them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _safe(text: str) -> str:
    # Lone surrogates first (a pair split in two joins up again), then what XML forbids.
    return _INVALID_XML.sub("\ufffd", clean_text(text))


def _seconds(item: Item) -> float:
    if item.started_at and item.finished_at:
        return max(0.0, (item.finished_at - item.started_at).total_seconds())
    return sum(item.timings.per_turn_ms) / 1000


def _case_name(item: Item, repeated: bool) -> str:
    name = item.test_name or item.test_id
    return f"{name} [run {item.repeat + 1}]" if repeated else name


def _body(item: Item) -> str:
    lines: list[str] = []
    check = item.first_failure
    if item.status is ItemStatus.ERROR:
        lines.append(f"error: {item.error or 'the run could not judge this test'}")
    elif check is not None:
        lines.append(f"check: {check_label(check)} (severity {check.severity})")
        lines.append(f"reason: {check_reason(check)}")
    failing = [c for c in item.assertions if c.fails_test]
    if len(failing) > 1:
        lines.append("other failing checks:")
        lines.extend(f"  - {check_label(c)}: {check_reason(c)}" for c in failing[1:])
    user, assistant = last_exchange(item)
    if user is not None or assistant is not None:
        lines.append("last exchange:")
        lines.append(f"  user: {user if user is not None else '(none)'}")
        lines.append(f"  assistant: {assistant if assistant is not None else '(no reply)'}")
    return _safe("\n".join(lines))


def _system_out(item: Item) -> str | None:
    lines = [f"[{e.role}] {e.content}" for e in item.transcript]
    if item.artifacts.log:
        lines.append("--- log ---")
        lines.extend(item.artifacts.log)
    return _safe("\n".join(lines)) if lines else None


def _testcase(
    item: Item, *, classname: str, repeated: bool, row: SummaryRow | None = None
) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "name": _safe(_case_name(item, repeated)),
            "classname": _safe(classname),
            "time": f"{_seconds(item):.3f}",
        },
    )
    if item.file:
        case.set("file", _safe(item.file))
    if row is not None and row.flaky:
        # The repeats of a flaky test say so; the failing ones keep their <failure>.
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", {"name": "flaky", "value": "true"})
        ET.SubElement(props, "property", {"name": "passRate", "value": f"{row.pass_rate}"})
        ET.SubElement(props, "property", {"name": "minPassRate", "value": f"{row.min_pass_rate}"})
        ET.SubElement(
            props, "property", {"name": "gatePassed", "value": str(row.gate_passed).lower()}
        )
    if item.status is ItemStatus.FAILED:
        check = item.first_failure
        failure = ET.SubElement(
            case,
            "failure",
            {
                "message": _safe(failure_text(item) or "failed"),
                "type": _safe(check.type if check else "failed"),
            },
        )
        failure.text = _body(item)
    elif item.status is ItemStatus.ERROR:
        error = ET.SubElement(
            case,
            "error",
            {"message": _safe(item.error or "the run could not judge this test"), "type": "error"},
        )
        error.text = _body(item)
    elif item.status is ItemStatus.SKIPPED:
        ET.SubElement(
            case, "skipped", {"message": _safe(item.error or "not run (the run was stopped)")}
        )
    out = _system_out(item)
    if out:
        ET.SubElement(case, "system-out").text = out
    return case


def _counts(element: ET.Element, items: Sequence[Item], seconds: float) -> None:
    element.set("tests", str(len(items)))
    element.set("failures", str(sum(1 for i in items if i.status is ItemStatus.FAILED)))
    element.set("errors", str(sum(1 for i in items if i.status is ItemStatus.ERROR)))
    element.set("skipped", str(sum(1 for i in items if i.status is ItemStatus.SKIPPED)))
    element.set("time", f"{seconds:.3f}")


def render_junit(
    result: RunResult,
    *,
    group_by: GroupBy = "assistant",
    name: str = "lamdis",
    warnings: Sequence[str] = (),
) -> str:
    """The run as a JUnit XML document (UTF-8, with an XML declaration).

    Args:
        result: what the engine produced.
        group_by: one ``<testsuite>`` per ``assistant`` or per ``file``.
        name: the ``<testsuites>`` name.
        warnings: added as ``<property name="warning">`` on every suite, with the
            offline-judge warning when it applies.
    """
    repeated = any(item.repeat > 0 for item in result.items)
    all_warnings = list(warnings)
    offline = offline_warning(result.items, judge_offline=result.judge.offline)
    if offline and offline not in all_warnings:
        all_warnings.append(offline)
    unassessed = unassessed_note(result.judge.unassessed)
    if unassessed:
        all_warnings.append(unassessed)

    rows = {(r.test_id, r.assistant): r for r in summary_rows(result.items, result.gate)}
    groups: dict[str, list[Item]] = {}
    for item in result.items:
        key = item.assistant if group_by == "assistant" else (item.file or "(no file)")
        groups.setdefault(key, []).append(item)

    total_seconds = (result.finished_at - result.started_at).total_seconds()
    root = ET.Element("testsuites", {"name": _safe(name)})
    _counts(root, result.items, max(0.0, total_seconds))
    timestamp = result.started_at.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat()
    for key, items in groups.items():
        suite = ET.SubElement(root, "testsuite", {"name": _safe(key), "timestamp": timestamp})
        _counts(suite, items, sum(_seconds(i) for i in items))
        props = ET.SubElement(suite, "properties")
        if result.seed is not None:
            ET.SubElement(props, "property", {"name": "seed", "value": str(result.seed)})
        if result.judge.provider:
            ET.SubElement(
                props, "property", {"name": "judge", "value": _safe(result.judge.provider)}
            )
        if result.usage.calls or result.usage.cached_calls:
            ET.SubElement(props, "property", {"name": "cost", "value": format_cost(result.usage)})
        if result.stop_reason:
            ET.SubElement(
                props, "property", {"name": "stop-reason", "value": _safe(result.stop_reason)}
            )
        flaky = {(i.test_id, i.assistant) for i in items if rows[(i.test_id, i.assistant)].flaky}
        if flaky:
            ET.SubElement(props, "property", {"name": "flaky-tests", "value": str(len(flaky))})
        skipped_checks = sum(1 for i in items for c in i.assertions if c.skipped)
        if skipped_checks:
            ET.SubElement(
                props, "property", {"name": "unassessed-checks", "value": str(skipped_checks)}
            )
        for warning in all_warnings:
            ET.SubElement(props, "property", {"name": "warning", "value": _safe(warning)})
        for item in items:
            # classname + name is what Jenkins and GitLab key a case on; the assistant keeps
            # the same test against two assistants apart whichever way suites are grouped.
            row = rows.get((item.test_id, item.assistant))
            suite.append(_testcase(item, classname=item.assistant, repeated=repeated, row=row))
        if not len(props):
            suite.remove(props)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
