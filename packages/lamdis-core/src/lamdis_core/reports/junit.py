"""JUnit XML that GitHub (test-reporter actions), GitLab and Jenkins read.

One ``<testsuite>`` per assistant (or per file), one ``<testcase>`` per test x assistant
(x repeat). A failed test carries ``<failure>`` with the failing check, its reason and the
last exchange; an error item carries ``<error>``; a skipped one ``<skipped>``. Times are in
seconds. Text is made XML-safe: control characters XML 1.0 cannot hold are replaced, and
ElementTree escapes the rest.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, TextIO

from lamdis_core.domain.results import Item, ItemStatus
from lamdis_core.pricing import format_cost
from lamdis_core.reports.facts import GroupBy, ReportFacts, item_seconds
from lamdis_core.reports.summary import (
    SummaryRow,
    check_label,
    check_reason,
    failure_text,
    last_exchange,
    unassessed_note,
)
from lamdis_core.sanitize import clean_text

if TYPE_CHECKING:
    from lamdis_core.engine.runner import RunResult

# Where a suite's test cases go in the document around them (no real tag has this name).
_CASES = "lamdis-testcases-here"

# Characters XML 1.0 forbids even as references; an assistant reply can contain them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _safe(text: str) -> str:
    # Lone surrogates first (a pair split in two joins up again), then what XML forbids.
    return _INVALID_XML.sub("\ufffd", clean_text(text))


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
            "time": f"{item_seconds(item):.3f}",
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


def _counts(
    element: ET.Element, *, tests: int, failures: int, errors: int, skipped: int, seconds: float
) -> None:
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", str(errors))
    element.set("skipped", str(skipped))
    element.set("time", f"{seconds:.3f}")


def render_junit(
    result: RunResult,
    *,
    group_by: GroupBy = "assistant",
    name: str = "lamdis",
    warnings: Sequence[str] = (),
    facts: ReportFacts | None = None,
) -> str:
    """The run as a JUnit XML document (UTF-8, with an XML declaration).

    Args:
        result: what the engine produced.
        group_by: one ``<testsuite>`` per ``assistant`` or per ``file``.
        name: the ``<testsuites>`` name.
        warnings: added as ``<property name="warning">`` on every suite, with the
            offline-judge warning when it applies.
        facts: the run's :class:`ReportFacts`, when the caller has them already.
    """
    out = io.StringIO()
    write_junit(out, result, group_by=group_by, name=name, warnings=warnings, facts=facts)
    return out.getvalue()


def write_junit(
    out: TextIO,
    result: RunResult,
    *,
    group_by: GroupBy = "assistant",
    name: str = "lamdis",
    warnings: Sequence[str] = (),
    facts: ReportFacts | None = None,
) -> None:
    """Write :func:`render_junit`'s text to ``out``, one ``<testcase>`` at a time.

    The document around the test cases (suites, counts, properties) is built and indented
    as one tree with a placeholder where each suite's cases go; each case is then built,
    indented at its depth and written in its place. The text is the one a whole tree would
    give, without holding a tree of every repeat of every test (``--repeat``).
    """
    if facts is None or facts.group_by != group_by:
        facts = ReportFacts.of(result.items, result.gate, group_by=group_by)
    all_warnings = list(warnings)
    offline = facts.offline_warning(judge_offline=result.judge.offline)
    if offline and offline not in all_warnings:
        all_warnings.append(offline)
    unassessed = unassessed_note(result.judge.unassessed)
    if unassessed:
        all_warnings.append(unassessed)

    rows = {(r.test_id, r.assistant): r for r in facts.rows}
    suites = facts.suites
    total_seconds = (result.finished_at - result.started_at).total_seconds()
    root = ET.Element("testsuites", {"name": _safe(name)})
    _counts(
        root,
        tests=len(result.items),
        failures=sum(s.failures for s in suites.values()),
        errors=sum(s.errors for s in suites.values()),
        skipped=sum(s.skipped for s in suites.values()),
        seconds=max(0.0, total_seconds),
    )
    timestamp = result.started_at.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat()
    for key, counts in suites.items():
        suite = ET.SubElement(root, "testsuite", {"name": _safe(key), "timestamp": timestamp})
        _counts(
            suite,
            tests=len(counts.positions),
            failures=counts.failures,
            errors=counts.errors,
            skipped=counts.skipped,
            seconds=sum(counts.seconds),
        )
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
        flaky = sum(1 for test in counts.tests if rows[test].flaky)
        if flaky:
            ET.SubElement(props, "property", {"name": "flaky-tests", "value": str(flaky)})
        if counts.unassessed:
            ET.SubElement(
                props, "property", {"name": "unassessed-checks", "value": str(counts.unassessed)}
            )
        for warning in all_warnings:
            ET.SubElement(props, "property", {"name": "warning", "value": _safe(warning)})
        if not len(props):
            suite.remove(props)
        ET.SubElement(suite, _CASES)
    ET.indent(root)
    # The placeholder is the suite's last child, so the indentation before it and the
    # closing tag after it are those the last case would have had.
    parts = (ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n").split(
        f"<{_CASES} />"
    )
    items = result.items
    whole = len(suites) == 1  # every item, in order: read them in one sweep
    for part, counts in zip(parts, suites.values(), strict=False):
        out.write(part)
        cases = iter(items) if whole else (items[p] for p in counts.positions)
        for n, item in enumerate(cases):
            # classname + name is what Jenkins and GitLab key a case on; the assistant keeps
            # the same test against two assistants apart whichever way suites are grouped.
            row = rows.get((item.test_id, item.assistant))
            case = _testcase(item, classname=item.assistant, repeated=facts.repeated, row=row)
            ET.indent(case, level=2)
            out.write(("\n    " if n else "") + ET.tostring(case, encoding="unicode"))
    out.write(parts[-1])
