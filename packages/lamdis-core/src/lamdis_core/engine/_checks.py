"""Deterministic checks: includes, not_includes, regex, json_path, latency."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lamdis_core.config.interpolation import MISSING, lookup, to_text
from lamdis_core.domain.config import (
    UNSET,
    IncludesStep,
    JsonPathStep,
    LatencyStep,
    NotIncludesStep,
    RegexStep,
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


def latency(step: LatencyStep, per_turn_ms: list[float]) -> Check:
    details: dict[str, Any] = {"maxMs": step.max_ms, "scope": step.scope}
    if not per_turn_ms:
        details["reasoning"] = "no assistant turn to measure yet"
        return Check(
            type="latency", name=step.name, passed=False, severity=step.severity, details=details
        )
    observed = per_turn_ms[-1] if step.scope == "last" else max(per_turn_ms)
    details["observedMs"] = round(observed, 1)
    passed = observed <= step.max_ms
    details["reasoning"] = (
        f"{observed:.0f} ms {'<=' if passed else '>'} ceiling {step.max_ms:.0f} ms"
    )
    return Check(
        type="latency", name=step.name, passed=passed, severity=step.severity, details=details
    )
