"""Deterministic checks: includes, not_includes, regex, json_path, latency, tool calls,
variable_check."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from lamdis_core.config.interpolation import MISSING, interpolate_text, lookup, to_text
from lamdis_core.domain.config import (
    UNSET,
    AssistantCheckStep,
    IncludesStep,
    JsonPathStep,
    LatencyStep,
    NotIncludesStep,
    NoToolCalledStep,
    RegexStep,
    ToolCalledStep,
)
from lamdis_core.domain.results import Check

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def includes(step: IncludesStep, text: str, scope_label: str) -> Check:
    lowered = text.lower()
    missing = [term for term in step.includes if term.lower() not in lowered]
    found = [term for term in step.includes if term.lower() in lowered]
    reason = (
        f"all {len(step.includes)} terms found in {scope_label}"
        if not missing
        else f"missing from {scope_label}: {', '.join(repr(t) for t in missing)}"
    )
    return Check(
        type="includes",
        name=step.name,
        passed=not missing,
        severity=step.severity,
        details={
            "expected": list(step.includes),
            "found": found,
            "missing": missing,
            "scope": step.scope,
            "reasoning": reason,
        },
    )


def not_includes(step: NotIncludesStep, text: str, scope_label: str) -> Check:
    lowered = text.lower()
    found = [term for term in step.terms if term.lower() in lowered]
    reason = (
        f"none of {len(step.terms)} forbidden terms in {scope_label}"
        if not found
        else f"forbidden in {scope_label} but present: {', '.join(repr(t) for t in found)}"
    )
    return Check(
        type="not_includes",
        name=step.name,
        passed=not found,
        severity=step.severity,
        details={
            "forbidden": list(step.terms),
            "found": found,
            "scope": step.scope,
            "reasoning": reason,
        },
    )


def compile_regex(step: RegexStep) -> re.Pattern[str]:
    flags = 0
    for letter in step.flags:
        if letter not in _FLAGS:
            raise ValueError(f"unknown regex flag {letter!r}; expected any of: {''.join(_FLAGS)}")
        flags |= _FLAGS[letter]
    return re.compile(step.pattern, flags)


def regex(step: RegexStep, text: str, scope_label: str) -> Check:
    try:
        match = compile_regex(step).search(text)
    except (re.error, ValueError) as exc:
        return Check(
            type="regex",
            name=step.name,
            passed=False,
            severity=step.severity,
            error=f"invalid pattern {step.pattern!r}: {exc}",
            details={"pattern": step.pattern},
        )
    matched = match is not None
    passed = matched != step.negate
    if step.negate:
        reason = "no match, as required" if passed else f"matched {match.group(0)!r} but must not"  # type: ignore[union-attr]
    else:
        reason = (
            f"matched {match.group(0)!r}"
            if match
            else f"no match for /{step.pattern}/ in {scope_label}"
        )
    return Check(
        type="regex",
        name=step.name,
        passed=passed,
        severity=step.severity,
        details={
            "pattern": step.pattern,
            "negate": step.negate,
            "scope": step.scope,
            "reasoning": reason,
        },
    )


def json_path(step: JsonPathStep, context: dict[str, Any]) -> Check:
    source = lookup(context, step.source)
    details: dict[str, Any] = {"source": step.source, "path": step.path}
    if source is MISSING:
        details["reasoning"] = (
            f"{step.source} is not set (did an earlier request step run and assign it?)"
        )
        return Check(
            type="json_path", name=step.name, passed=False, severity=step.severity, details=details
        )
    value = lookup(source, step.path)
    exists = value is not MISSING
    details["actual"] = None if value is MISSING else value
    problems: list[str] = []
    expect_exists = step.exists if step.exists is not None else True
    if exists != expect_exists:
        problems.append(f"{step.path} {'is missing' if expect_exists else 'exists but must not'}")
    if step.equals is not UNSET:
        details["expected"] = step.equals
        if not exists or not json_equal(value, step.equals):
            problems.append(f"expected {step.path} == {step.equals!r}, got {details['actual']!r}")
    if step.matches is not None:
        details["matches"] = step.matches
        if not exists or re.search(step.matches, to_text(value)) is None:
            problems.append(
                f"expected {step.path} to match /{step.matches}/, got {details['actual']!r}"
            )
    details["reasoning"] = (
        "; ".join(problems) if problems else f"{step.path} = {details['actual']!r}"
    )
    return Check(
        type="json_path",
        name=step.name,
        passed=not problems,
        severity=step.severity,
        details=details,
    )


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values with JSON's types: ``true`` is not ``1``, ``"1"`` is not ``1``.

    Python's ``==`` says ``True == 1`` and ``[False] == [0]``; JSON has no such coercion.
    Numbers compare by value (``1 == 1.0``, both are JSON numbers).
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if type(left) is not type(right) and not (isinstance(left, str) and isinstance(right, str)):
        return False
    return bool(left == right)


def latency(
    step: LatencyStep, per_turn_ms: list[float], per_turn_ttft_ms: list[float | None] | None = None
) -> Check:
    details: dict[str, Any] = {"scope": step.scope}
    if step.max_ms is not None:
        details["maxMs"] = step.max_ms
    if step.ttft_ms is not None:
        details["ttftMs"] = step.ttft_ms
    if not per_turn_ms:
        details["reasoning"] = "no assistant turn to measure yet"
        return Check(
            type="latency", name=step.name, passed=False, severity=step.severity, details=details
        )
    reasons: list[str] = []
    passed = True
    if step.max_ms is not None:
        observed = per_turn_ms[-1] if step.scope == "last" else max(per_turn_ms)
        details["observedMs"] = round(observed, 1)
        ok = observed <= step.max_ms
        passed = passed and ok
        reasons.append(f"{observed:.0f} ms {'<=' if ok else '>'} ceiling {step.max_ms:.0f} ms")
    if step.ttft_ms is not None:
        ttfts = list(per_turn_ttft_ms or [])
        considered = ttfts[-1:] if step.scope == "last" else ttfts
        if not considered or any(t is None for t in considered):
            passed = False
            reasons.append(
                "no time to first token was measured (only streaming channels measure it: "
                "sse, websocket, openai_chat)"
            )
        else:
            observed_ttft = max(t for t in considered if t is not None)
            details["observedTtftMs"] = round(observed_ttft, 1)
            ok = observed_ttft <= step.ttft_ms
            passed = passed and ok
            reasons.append(
                f"first token after {observed_ttft:.0f} ms {'<=' if ok else '>'} ceiling "
                f"{step.ttft_ms:.0f} ms"
            )
    details["reasoning"] = "; ".join(reasons)
    return Check(
        type="latency", name=step.name, passed=passed, severity=step.severity, details=details
    )


def json_subset(expected: Any, actual: Any) -> bool:
    """Whether ``expected`` is contained in ``actual``: objects key by key (extra keys in
    ``actual`` are fine), lists item by item with equal length, scalars equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and json_subset(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(json_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return json_equal(expected, actual)


def tool_called(step: ToolCalledStep, calls: list[dict[str, Any]], scope_label: str) -> Check:
    """``calls``: ``{name, arguments}`` of every tool call in scope, in order."""
    named = [call for call in calls if call.get("name") == step.tool]
    matching = (
        named
        if step.arguments is UNSET
        else [call for call in named if json_subset(step.arguments, call.get("arguments"))]
    )
    details: dict[str, Any] = {
        "tool": step.tool,
        "scope": step.scope,
        "calls": [call.get("name") for call in calls],
        "matching": len(matching),
    }
    if step.arguments is not UNSET:
        details["arguments"] = step.arguments
    if step.times is not None:
        details["times"] = step.times
        passed = len(matching) == step.times
    else:
        passed = bool(matching)
    what = step.tool + (" with the given arguments" if step.arguments is not UNSET else "")
    if passed:
        reason = f"{what} called {len(matching)} time(s) in {scope_label}"
    elif not calls:
        reason = f"no tool was called in {scope_label}; expected {what}"
    elif named and not matching:
        seen = "; ".join(_shown(call.get("arguments")) for call in named[:3])
        reason = f"{step.tool} was called, but not with arguments containing {_shown(step.arguments)} (got {seen})"
    elif step.times is not None:
        reason = f"{what} called {len(matching)} time(s) in {scope_label}, expected {step.times}"
    else:
        reason = (
            f"{step.tool} was not called in {scope_label}; called: {', '.join(details['calls'])}"
        )
    details["reasoning"] = reason
    return Check(
        type="tool_called", name=step.name, passed=passed, severity=step.severity, details=details
    )


def no_tool_called(step: NoToolCalledStep, calls: list[dict[str, Any]], scope_label: str) -> Check:
    offending = [c for c in calls if step.tool is None or c.get("name") == step.tool]
    details: dict[str, Any] = {"scope": step.scope, "calls": [c.get("name") for c in calls]}
    if step.tool is not None:
        details["tool"] = step.tool
    what = step.tool or "any tool"
    if offending:
        reason = f"{what} was called in {scope_label}: " + ", ".join(
            f"{c.get('name')}({_shown(c.get('arguments'))})" for c in offending[:3]
        )
    else:
        reason = f"{what} was not called in {scope_label}, as required"
    details["reasoning"] = reason
    return Check(
        type="no_tool_called",
        name=step.name,
        passed=not offending,
        severity=step.severity,
        details=details,
    )


def _shown(value: Any, limit: int = 120) -> str:
    text = to_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if number == number else None  # NaN compares with nothing


def _equal(left: Any, right: Any) -> bool:
    """``eq`` as the newer lamdis reads it: an object or list equals the JSON it is written
    as, anything else equals by its text (``5`` and ``"5"``, ``true`` and ``"true"``)."""
    if isinstance(left, Mapping | list):
        if isinstance(right, str):
            try:
                right = json.loads(right)
            except ValueError:
                return False
        return json_equal(left, right)
    return to_text(left) == to_text(right)


_COMPARE: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "gt": (operator.gt, ">"),
    "gte": (operator.ge, ">="),
    "lt": (operator.lt, "<"),
    "lte": (operator.le, "<="),
}


def variable_check(step: AssistantCheckStep, context: Mapping[str, Any]) -> Check:
    """``assistant_check`` in mode ``variable_check``: the value at ``variablePath`` against
    ``rightValue`` (interpolated) by ``operator``.

    A variable that is not set fails every operator but ``not_exists`` (it is not "equal to
    the empty string"); numeric operators fail unless both sides are numbers.
    """
    path = (step.variable_path or "").strip()
    op = step.operator
    expected = step.expected
    right = interpolate_text(expected, context) if isinstance(expected, str) else expected
    left = lookup(context, path)
    present = left is not MISSING and left is not None
    details: dict[str, Any] = {
        "variablePath": path,
        "operator": op,
        "leftValue": None if left is MISSING else left,
        "rightValue": right,
    }
    error: str | None = None
    passed: bool
    if op == "exists":
        passed = present
        reason = f"{path} {'is set' if present else 'is not set'}"
    elif op == "not_exists":
        passed = not present
        reason = f"{path} {'is set' if present else 'is not set'}"
    elif left is MISSING:
        passed, reason = False, f"{path} is not set (did an earlier step set it?)"
    elif op in ("eq", "neq"):
        same = _equal(left, right)
        passed = same == (op == "eq")
        reason = f"{to_text(left)!r} {'==' if same else '!='} {to_text(right)!r}"
    elif op in _COMPARE:
        compare, sign = _COMPARE[op]
        a, b = _number(left), _number(right)
        if a is None or b is None:
            passed = False
            which = to_text(left) if a is None else to_text(right)
            reason = f"{op} compares numbers; {which!r} is not one"
        else:
            passed = compare(a, b)
            reason = f"{a:g} {sign} {b:g} is {'true' if passed else 'false'}"
    elif op in ("contains", "not_contains"):
        found = to_text(right) in to_text(left)
        passed = found == (op == "contains")
        reason = (
            f"{to_text(left)!r} {'contains' if found else 'does not contain'} {to_text(right)!r}"
        )
    else:  # regex
        try:
            match = re.search(to_text(right), to_text(left))
        except re.error as exc:
            passed, match = False, None
            error = f"invalid regular expression {to_text(right)!r}: {exc}"
        passed = match is not None
        reason = error or (
            f"{to_text(left)!r} {'matches' if passed else 'does not match'} /{to_text(right)}/"
        )
    details["reasoning"] = reason
    return Check(
        type="assistant_check",
        subtype="variable_check",
        name=step.name or path or "variable_check",
        passed=passed,
        severity=step.severity,
        error=error,
        details=details,
    )
