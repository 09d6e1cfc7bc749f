"""Reading model output: tolerant JSON extraction and the verdict rules."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.llm import (
    OutputParseError,
    extract_json_object,
    parse_extraction,
    parse_opening,
    parse_verdict,
)
from lamdis_core.ports.judge import ConversationTurn, JudgeRequest


def req(threshold: float = 0.7, *, propose_next: bool = False) -> JudgeRequest:
    return JudgeRequest(
        rubric="r",
        threshold=threshold,
        transcript=[ConversationTurn(role="assistant", content="hi")],
        propose_next=propose_next,
    )


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '  \n{"a": 1}\n',
        '```json\n{"a": 1}\n```',
        '```JSON {"a": 1}```',
        'Sure, here you go: {"a": 1} -- let me know.',
        'Thinking {not json} then {"a": 1}',
        'Two objects {"a": 1} and {"a": 2}',
    ],
)
def test_the_first_json_object_is_found_in_wrapped_text(text: str) -> None:
    """Fences, prose and stray braces around the object do not stop it being read."""
    assert extract_json_object(text) == {"a": 1}


@pytest.mark.parametrize(
    "text", ["", "   ", "no json here", "[1, 2, 3]", '{"a": 1', "```json\n```"]
)
def test_text_without_an_object_is_an_output_parse_error(text: str) -> None:
    """Empty text, arrays and truncated JSON are unreadable, with the reason in the error."""
    with pytest.raises(OutputParseError):
        extract_json_object(text)


@given(st.text())
def test_extraction_never_crashes_on_arbitrary_text(text: str) -> None:
    """Any text either yields a dict or raises OutputParseError, nothing else."""
    with contextlib.suppress(OutputParseError):
        assert isinstance(extract_json_object(text), dict)


@given(
    score=st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1),
    threshold=st.floats(min_value=0, max_value=1),
    model_pass=st.one_of(st.none(), st.booleans()),
)
def test_passed_is_always_the_score_against_the_threshold(
    score: float, threshold: float, model_pass: bool | None
) -> None:
    """For a score in [0, 1], passed == score >= threshold and model_pass is kept verbatim."""
    body: dict[str, object] = {"score": score, "reasoning": "because"}
    if model_pass is not None:
        body["pass"] = model_pass
    verdict = parse_verdict(json.dumps(body), req(threshold), model="m")
    assert verdict.score == score
    assert verdict.passed == (verdict.score >= threshold)
    assert verdict.model_pass is model_pass


@given(
    score=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not 0 <= x <= 1),
        st.integers().filter(lambda x: not 0 <= x <= 1),
    ),
    threshold=st.floats(min_value=0, max_value=1),
    model_pass=st.one_of(st.none(), st.booleans()),
)
def test_a_score_outside_0_to_1_is_unreadable_or_agrees_with_the_models_pass(
    score: float, threshold: float, model_pass: bool | None
) -> None:
    """Never clamped: either a parse error, or a score in [0, 1] whose pass is the model's."""
    body: dict[str, object] = {"score": score, "reasoning": "because"}
    if model_pass is not None:
        body["pass"] = model_pass
    try:
        verdict = parse_verdict(json.dumps(body), req(threshold), model="m")
    except OutputParseError:
        return
    assert model_pass is not None and math.isfinite(score)
    assert 0.0 <= verdict.score <= 1.0
    assert verdict.passed is model_pass


@pytest.mark.parametrize(
    ("body", "score"),
    [
        ({"score": 3}, None),  # 3/10 or 3/5? no scale, no pass: unreadable
        ({"score": 45, "pass": True}, None),  # 0.45 < 0.7 disagrees with the model's pass
        ({"score": 1.01}, None),
        ({"score": 45, "pass": False}, 0.45),
        ({"score": 45, "scale": 100}, 0.45),
        ({"score": 7, "max_score": 10}, 0.7),
        ({"score": 120, "scale": 100}, None),
        ({"score": 5, "scale": 0}, None),
        ({"score": 0.8, "scale": 10}, 0.08),
        ({"score": "45%"}, 0.45),
    ],
)
def test_out_of_range_scores_are_read_only_on_a_stated_or_agreed_scale(
    body: dict[str, object], score: float | None
) -> None:
    text = json.dumps({**body, "reasoning": "because"})
    if score is None:
        with pytest.raises(OutputParseError, match="score"):
            parse_verdict(text, req(0.7), model="m")
    else:
        assert parse_verdict(text, req(0.7), model="m").score == pytest.approx(score)


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_non_finite_scores_never_pass(literal: str) -> None:
    text = '{"score": ' + literal + ', "pass": true, "reasoning": "perfect"}'
    with pytest.raises(OutputParseError, match="finite"):
        parse_verdict(text, req(0.0), model="m")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"reasoning": "x"}, "score"),
        ({"score": True, "reasoning": "x"}, "score"),
        ({"score": "high", "reasoning": "x"}, "score"),
        ({"score": 0.5}, "reasoning"),
        ({"score": 0.5, "reasoning": "   "}, "reasoning"),
    ],
)
def test_a_verdict_needs_a_numeric_score_and_reasoning(
    body: dict[str, object], problem: str
) -> None:
    """No score (or a boolean, or words) and no reasoning are unreadable, never defaulted."""
    with pytest.raises(OutputParseError, match=problem):
        parse_verdict(json.dumps(body), req(), model="m")


def test_percent_and_string_scores_are_read() -> None:
    """ "85%" reads as 0.85 and "0.4" as 0.4: models do write numbers as strings."""
    assert parse_verdict('{"score": "85%", "reasoning": "x"}', req(), model="m").score == 0.85
    assert parse_verdict('{"score": "0.4", "reasoning": "x"}', req(), model="m").score == 0.4


def test_next_message_is_required_only_when_asked_for() -> None:
    """With propose_next a verdict without next_message is unreadable; without it, it is ignored."""
    text = '{"score": 0.5, "reasoning": "x"}'
    assert parse_verdict(text, req(), model="m").next_message is None
    with pytest.raises(OutputParseError, match="next_message"):
        parse_verdict(text, req(propose_next=True), model="m")
    asked = parse_verdict(
        '{"score": 0.5, "reasoning": "x", "nextMessage": "And then?"}',
        req(propose_next=True),
        model="m",
    )
    assert asked.next_message == "And then?"


def test_opening_needs_a_message() -> None:
    """An opening is the non-empty "message" field."""
    assert parse_opening('{"message": " Hi there "}') == "Hi there"
    with pytest.raises(OutputParseError):
        parse_opening('{"message": ""}')


@pytest.mark.parametrize(
    ("text", "found", "value"),
    [
        ('{"found": true, "value": 42, "reasoning": "x"}', True, 42),
        ('{"found": false, "value": "made up", "reasoning": "x"}', False, None),
        ('{"value": {"id": "A1"}}', True, {"id": "A1"}),
        ('{"value": null}', False, None),
    ],
)
def test_extraction_found_and_value(text: str, found: bool, value: object) -> None:
    """found false always drops the value; without found, a non-null value counts as found."""
    extraction = parse_extraction(text, model="m")
    assert (extraction.found, extraction.value) == (found, value)


def test_extraction_without_found_or_value_is_unreadable() -> None:
    """An object with neither field is not an extraction."""
    with pytest.raises(OutputParseError):
        parse_extraction('{"reasoning": "x"}', model="m")


def test_output_nested_beyond_the_limit_is_an_output_parse_error() -> None:
    """A reply 100,000 brackets deep is unreadable (repaired, then an error), not a crash."""
    deep = '{"score": 1, "reasoning": "x", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(OutputParseError, match="nested deeper than"):
        parse_verdict(deep, req(), model="m")
