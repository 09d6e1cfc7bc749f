"""Reading model output: find the JSON object in it, then check it has what was asked for."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import attrs

from lamdis_core.domain.results import Usage
from lamdis_core.ports.judge import Extraction, JudgeRequest, Verdict

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|jsonc)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


class OutputParseError(ValueError):
    """Model output that is not the JSON object asked for; the message says what is wrong."""


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``, tolerating code fences and prose around it.

    Raises:
        OutputParseError: no JSON object could be found.
    """
    stripped = text.strip()
    if not stripped:
        raise OutputParseError("the reply was empty")
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(stripped))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", stripped):
        try:
            value, _ = decoder.raw_decode(stripped, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise OutputParseError("the reply holds no JSON object")


def _first(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in data:
            return data[name]
    return None


def _score(data: dict[str, Any]) -> float:
    raw = data.get("score")
    if isinstance(raw, bool) or raw is None:
        raise OutputParseError('"score" is missing or not a number')
    if isinstance(raw, str):
        try:
            raw = float(raw.strip().rstrip("%")) / (100 if raw.strip().endswith("%") else 1)
        except ValueError:
            raise OutputParseError(f'"score" is not a number: {raw!r}') from None
    if not isinstance(raw, int | float) or math.isnan(raw):
        raise OutputParseError(f'"score" is not a number: {raw!r}')
    return min(1.0, max(0.0, float(raw)))


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _text(data: dict[str, Any], *names: str) -> str:
    value = _first(data, *names)
    return value.strip() if isinstance(value, str) else ""


def parse_verdict(
    text: str, request: JudgeRequest, *, model: str, usage: Usage | None = None
) -> Verdict:
    """A :class:`Verdict` from the model's reply to :func:`judge_messages`.

    ``passed`` is computed as ``score >= threshold`` (the score clamped to [0, 1]); the
    model's own ``pass`` is kept as ``model_pass``.

    Raises:
        OutputParseError: no JSON object, no numeric score, no reasoning, or (when asked for)
            no next message although the verdict neither passes nor says to stop. lamdis-runs'
            names ``nextUser`` and ``shouldContinue`` are read too.
    """
    data = extract_json_object(text)
    score = _score(data)
    reasoning = _text(data, "reasoning", "reason", "explanation", "rationale")
    if not reasoning:
        raise OutputParseError('"reasoning" is missing or empty')
    next_message = None
    should_continue = _bool(_first(data, "should_continue", "shouldContinue", "continue"))
    if request.propose_next:
        next_message = (
            _text(data, "next_message", "nextMessage", "next_user_message", "nextUser") or None
        )
        # A passing verdict, or one that says to stop, ends the conversation: it needs no
        # next message (lamdis-runs' judges often leave it out then).
        ends = score >= request.threshold or should_continue is False
        if next_message is None and not ends:
            raise OutputParseError('"next_message" is missing or empty')
    return Verdict(
        score=score,
        threshold=request.threshold,
        passed=score >= request.threshold,
        reasoning=reasoning,
        model=model,
        model_pass=_bool(_first(data, "pass", "passed")),
        next_message=next_message,
        usage=usage or Usage(),
        should_continue=should_continue,
    )


def parse_opening(text: str) -> str:
    """The opening user message from the reply to :func:`opening_messages`."""
    data = extract_json_object(text)
    message = _text(data, "message", "opening", "next_message")
    if not message:
        raise OutputParseError('"message" is missing or empty')
    return message


def parse_extraction(text: str, *, model: str, usage: Usage | None = None) -> Extraction:
    """An :class:`Extraction` from the reply to :func:`extract_messages`.

    When the model leaves out ``found``, a non-null value counts as found.
    """
    data = extract_json_object(text)
    if "value" not in data and "found" not in data:
        raise OutputParseError('neither "found" nor "value" is present')
    value = data.get("value")
    found = _bool(data.get("found"))
    if found is None:
        found = value is not None
    if not found:
        value = None
    return Extraction(
        found=found,
        value=value,
        reasoning=_text(data, "reasoning", "reason", "explanation"),
        model=model,
        usage=usage or Usage(),
    )


def with_usage(verdict: Verdict, usage: Usage, *, cached: bool = False) -> Verdict:
    """The same verdict carrying ``usage`` (and the cache flag)."""
    return attrs.evolve(verdict, usage=usage, cached=cached)
