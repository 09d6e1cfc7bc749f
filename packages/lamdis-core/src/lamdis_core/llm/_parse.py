"""Reading model output: find the JSON object in it, then check it has what was asked for."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import attrs

from lamdis_core.domain.results import Usage
from lamdis_core.ports.judge import Extraction, JudgeRequest, Verdict
from lamdis_core.sanitize import TooDeepError, check_depth

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
    try:
        check_depth(stripped)
    except TooDeepError as exc:  # json.loads would exhaust the stack (RecursionError)
        raise OutputParseError(f"the reply holds {exc}") from None
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


_SCALE_NAMES = ("scale", "max_score", "maxScore", "out_of", "outOf")
_IMPLIED_SCALES = (10.0, 100.0)


def _number(value: Any, what: str) -> float:
    """A finite number from JSON (a numeric string too); never a boolean, NaN or Infinity."""
    if isinstance(value, bool) or value is None:
        raise OutputParseError(f'"{what}" is missing or not a number')
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise OutputParseError(f'"{what}" is not a number: {value!r}') from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise OutputParseError(f'"{what}" is not a finite number: {value!r}')
    return float(value)


def read_score(
    raw: Any, *, scale: Any = None, model_pass: bool | None = None, threshold: float
) -> float:
    """A judge's score as a number in [0, 1], or :class:`OutputParseError`.

    A score outside [0, 1] is never clamped into a pass. It is read on a scale only when the
    output states one (``"scale": 100``, or ``"45%"``), or when the model's own ``pass``
    agrees with the score read on the smallest usual scale (10 or 100) that holds it: ``45``
    with ``"pass": false`` is 0.45, ``3`` alone is unreadable. Infinity and NaN never pass.
    """
    if isinstance(raw, str) and raw.strip().endswith("%"):
        raw, scale = raw.strip()[:-1], 100 if scale is None else scale
    score = _number(raw, "score")
    if scale is not None:
        limit = _number(scale, "scale")
        if limit <= 0 or not 0.0 <= score <= limit:
            raise OutputParseError(f'"score" {score:g} is not within the stated scale 0..{limit:g}')
        return score / limit
    if 0.0 <= score <= 1.0:
        return score
    implied = next((s for s in _IMPLIED_SCALES if 0.0 < score <= s), None)
    if implied is not None and model_pass is not None:
        if (score / implied >= threshold) == model_pass:
            return score / implied
        raise OutputParseError(
            f'"score" {score:g} is outside 0..1, and read out of {implied:g} it disagrees '
            f'with "pass": {str(model_pass).lower()}; give a score between 0 and 1'
        )
    raise OutputParseError(
        f'"score" {score:g} is outside 0..1 and the reply states no scale; give a score '
        'between 0 and 1 (or state the scale, e.g. "scale": 10)'
    )


def _score(data: dict[str, Any], threshold: float) -> float:
    return read_score(
        data.get("score"),
        scale=_first(data, *_SCALE_NAMES),
        model_pass=_bool(_first(data, "pass", "passed")),
        threshold=threshold,
    )


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

    ``passed`` is computed as ``score >= threshold`` with the score read by
    :func:`read_score` (never clamped); the model's own ``pass`` is kept as ``model_pass``.

    Raises:
        OutputParseError: no JSON object, no numeric score, no reasoning, or (when asked for)
            no next message although the verdict neither passes nor says to stop. lamdis-runs'
            names ``nextUser`` and ``shouldContinue`` are read too.
    """
    data = extract_json_object(text)
    score = _score(data, request.threshold)
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
