"""The shared sanitizer: what leaves lamdis encodes as UTF-8 and strict JSON; what comes in
nests no deeper than the limit."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.sanitize import (
    MAX_JSON_DEPTH,
    TooDeepError,
    check_depth,
    clean,
    clean_text,
    loads_bounded,
)


def test_lone_surrogates_become_replacement_characters_and_split_pairs_join() -> None:
    assert clean_text("a\ud83db") == "a\ufffdb"
    assert clean_text("\udc00") == "\ufffd"
    assert clean_text("\ud83d\ude00") == "\U0001f600"
    assert clean_text("plain é 😀") == "plain é 😀"


def test_clean_walks_json_and_nulls_non_finite_numbers() -> None:
    value = {"k\ud800": [1.5, math.nan, -math.inf, "x\udfff", {"n": None, "b": True}]}
    assert clean(value) == {"k\ufffd": [1.5, None, None, "x\ufffd", {"n": None, "b": True}]}


@given(st.text(st.characters(codec=None)))
def test_cleaned_text_always_encodes(text: str) -> None:
    clean_text(text).encode("utf-8")


@given(st.recursive(st.none() | st.floats() | st.text(), lambda inner: st.lists(inner, max_size=3)))
def test_cleaned_values_are_strict_json(value: Any) -> None:
    json.dumps(clean(value), allow_nan=False, ensure_ascii=False).encode("utf-8")


def test_depth_is_measured_outside_strings_only() -> None:
    check_depth('{"a": "[[[[[[[[[[", "b": [[1]]}', max_depth=3)
    with pytest.raises(TooDeepError):
        check_depth('{"a": "\\"[", "b": [[[1]]]}', max_depth=3)


def test_loads_bounded_refuses_what_would_exhaust_the_stack() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(TooDeepError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        loads_bounded(deep)
    with pytest.raises(TooDeepError):
        loads_bounded(deep.encode("utf-16"))
    assert loads_bounded(b'{"a": [[1]]}') == {"a": [[1]]}
    with pytest.raises(ValueError):
        loads_bounded("[1,")


def test_both_log_configurations_clean_text_before_rendering() -> None:
    import structlog
    from lamdis_core.sanitize import clean_log_event
    from lamdis_http.cli import configure_logging
    from lamdis_http.cli._serve import configure_json_logging

    event = clean_log_event(None, "info", {"event": "reply", "text": "half \ud83d", "n": 1})
    assert event == {"event": "reply", "text": "half \ufffd", "n": 1}
    try:
        for configure in (lambda: configure_logging(0), configure_json_logging):
            configure()
            assert clean_log_event in structlog.get_config()["processors"]
    finally:
        structlog.reset_defaults()


def test_nul_is_replaced_only_when_asked() -> None:
    assert clean_text("a\x00b") == "a\x00b"
    assert clean_text("a\x00\ud83d", nul=True) == "a\ufffd\ufffd"
    assert clean({"k\x00": ["\x00"]}, nul=True) == {"k\ufffd": ["\ufffd"]}


def test_tool_call_arguments_nested_too_deep_stay_text() -> None:
    from lamdis_http.targets._channel import to_tool_call

    deep = "[" * 100_000 + "]" * 100_000
    call = to_tool_call({"function": {"name": "f", "arguments": deep}})
    assert call is not None and call.arguments == deep
    shallow = to_tool_call({"function": {"name": "f", "arguments": '{"a": [1]}'}})
    assert shallow is not None and shallow.arguments == {"a": [1]}
