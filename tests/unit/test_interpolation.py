"""Interpolation: ``${path}``, ``$path``, ``${ENV}`` and ``{name}``."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.config.interpolation import (
    MISSING,
    env_references,
    fill_placeholders,
    interpolate,
    interpolate_env,
    lookup,
)
from lamdis_core.domain.errors import InterpolationError

CONTEXT = {
    "var": {"acct": {"id": 1001, "tags": ["a", "b"], "owner": {"name": "Ann"}}},
    "steps": {"create": {"output": {"id": 7}}},
    "last": {"assistant": "hello", "user": "hi", "request": {"ok": True}},
    "lastAssistant": "hello",
    "lastUser": "hi",
    "input": {},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${var.acct.id}", 1001),
        ("id=${var.acct.id}", "id=1001"),
        ("$var.acct.owner.name!", "Ann!"),
        ("${var.acct.tags[1]} ${var.acct.tags.0}", "b a"),
        ("${steps.create.output.id}", 7),
        ("${last.request}", {"ok": True}),
        ("said: $lastAssistant", "said: hello"),
        ("costs $5 and ${unknown.path}", "costs $5 and "),
        ("obj ${var.acct.owner}", 'obj {"name":"Ann"}'),
    ],
)
def test_references_resolve_against_the_context(template: str, expected: Any) -> None:
    assert interpolate(template, CONTEXT) == expected


def test_interpolation_walks_nested_structures() -> None:
    assert interpolate({"a": ["${var.acct.id}", {"b": "$lastUser"}]}, CONTEXT) == {
        "a": [1001, {"b": "hi"}]
    }


def test_strict_mode_names_the_reference_and_place() -> None:
    with pytest.raises(InterpolationError, match=r"\$\{var\.nope\} in request URL"):
        interpolate("http://x/${var.nope}", CONTEXT, strict=True, where="request URL")


def test_env_fallback_for_plain_names() -> None:
    assert interpolate("Bearer ${TOKEN}", CONTEXT, env={"TOKEN": "t"}) == "Bearer t"


def test_interpolate_env_requires_set_variables_when_strict() -> None:
    assert interpolate_env({"h": "${A}-${B}"}, {"A": "1", "B": "2"}) == {"h": "1-2"}
    with pytest.raises(InterpolationError, match="MISSING_VAR"):
        interpolate_env("${MISSING_VAR}", {})
    assert interpolate_env("x${MISSING_VAR}", {}, strict=False) == "x"


def test_env_references_lists_variable_names_only() -> None:
    assert env_references({"a": "${BOT_API_KEY}", "b": ["${var.acct.id}", "${X1}"]}) == {
        "BOT_API_KEY",
        "X1",
    }


def test_placeholders_take_input_values_and_keep_unknown_braces() -> None:
    assert fill_placeholders("/accounts/{id}/{other}", {"id": 5}) == "/accounts/5/{other}"
    assert fill_placeholders({"n": "{id}"}, {"id": 5}) == {"n": 5}
    assert fill_placeholders("${var.x}", {"var": 1}) == "${var.x}"


def test_lookup_reports_missing_paths() -> None:
    assert lookup(CONTEXT, "var.acct.tags[5]") is MISSING
    assert lookup(CONTEXT, "$.var.acct.id") == 1001
    assert lookup({"a": 1}, "a.b") is MISSING


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(value=json_values, context=st.dictionaries(st.text(max_size=6), json_values, max_size=4))
def test_arbitrary_json_never_crashes_interpolation(value: Any, context: dict[str, Any]) -> None:
    interpolate(value, context)
    fill_placeholders(value, {"id": 1})
    env_references(value)


identifiers = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)
scalars = st.integers() | st.text(alphabet=string.ascii_letters + " ", max_size=10) | st.booleans()


@given(keys=st.lists(identifiers, min_size=1, max_size=4), leaf=scalars)
def test_known_paths_round_trip(keys: list[str], leaf: Any) -> None:
    nested: Any = leaf
    for key in reversed(keys):
        nested = {key: nested}
    context = {"var": nested}
    path = "var." + ".".join(keys)
    assert interpolate("${" + path + "}", context) == leaf
    assert lookup(context, path) == leaf


@given(st.text(), st.text())
def test_a_value_pasted_in_is_never_read_again(first: str, second: str) -> None:
    """Whatever a value holds (``${SECRET}``, ``{b}``, ``$lastUser``), it arrives as written."""
    env = {"SECRET": "never-sent"}
    rendered = interpolate(
        "/x/{a}/{b}?q=${lastUser}&k=${SECRET}",
        {"lastUser": second},
        env=env,
        placeholders={"a": first, "b": second},
        as_text=True,
    )
    assert rendered == f"/x/{first}/{second}?q={second}&k=never-sent"
