"""Data generators in test variables: every generator with a fixed seed and clock, the same
seed giving the same values, and wrong arguments named."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.generators import (
    GENERATORS,
    execution_random,
    expression_problems,
    resolve_value,
    resolve_variables,
)

NOW = datetime(2026, 3, 1, 8, 4, 38, 123456, tzinfo=UTC)


def draw(expr: str, seed: int = 7) -> str:
    value = resolve_value(expr, execution_random(seed, "t", "bot", 0), NOW)
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize(
    ("expr", "shape"),
    [
        ("${uuid}", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
        ("${randInt(5)}", r"[1-9]\d{4}"),
        ("${randInt(1)}", r"[1-9]"),
        ("${randInt(2,4)}", r"[1-9]\d{1,3}"),
        ("${randDec(3,4)}", r"[1-9]\d{2}\.\d{4}"),
        ("${randDec(2)}", r"[1-9]\d\.\d{2}"),
        ("${randStr(12)}", r"[A-Za-z0-9]{12}"),
        ("${randStr}", r"[A-Za-z0-9]{8}"),
        ("${randFrom(red, green ,blue)}", r"red|green|blue"),
        ("${email}", r"test_[0-9a-f]{8}@test\.lamdis\.io"),
        ("${today}", r"2026-03-01"),
        ("${tomorrow}", r"2026-03-02"),
        ("${yesterday}", r"2026-02-28"),
        ("${daysFromNow(7)}", r"2026-03-08"),
        ("${daysFromNow(-1)}", r"2026-02-28"),
        ("${now}", r"2026-03-01T08:04:38\.123Z"),
        ("${isoDate}", r"2026-03-01T08:04:38\.123Z"),
        ("${timestamp}", str(int(NOW.timestamp()))),
        ("${timestampMs}", str(int(NOW.timestamp() * 1000))),
    ],
)
def test_every_generator_draws_its_documented_shape(expr: str, shape: str) -> None:
    value = draw(expr)
    assert re.fullmatch(shape, value), value
    assert draw(expr) == value  # same seed, same place: same value


def test_every_generator_is_covered_by_the_shape_table() -> None:
    covered = {
        "uuid", "randInt", "randDec", "randStr", "randFrom", "email", "today", "tomorrow",
        "yesterday", "daysFromNow", "now", "isoDate", "timestamp", "timestampMs",
    }  # fmt: skip
    assert set(GENERATORS) == covered


def test_a_uuid_is_a_valid_version_4_uuid() -> None:
    assert uuid.UUID(draw("${uuid}")).version == 4


def test_a_fixed_seed_reproduces_every_value_and_another_seed_does_not() -> None:
    defs = [("id", "cust-${randInt(6)}"), ("tag", "${randStr(10)}"), ("u", "${uuid}")]
    first = resolve_variables(defs, execution_random(42, "t", "bot", 0), NOW)
    again = resolve_variables(defs, execution_random(42, "t", "bot", 0), NOW)
    other = resolve_variables(defs, execution_random(43, "t", "bot", 0), NOW)
    repeat = resolve_variables(defs, execution_random(42, "t", "bot", 1), NOW)
    assert first == again
    assert first != other and first != repeat
    assert first["id"].startswith("cust-")


def test_plain_values_and_references_are_kept_as_written() -> None:
    rng = execution_random(1, "t", "bot", 0)
    assert resolve_value("plain", rng, NOW) == "plain"
    assert resolve_value(5, rng, NOW) == 5
    assert resolve_value("${var.x} and ${API_KEY}", rng, NOW) == "${var.x} and ${API_KEY}"


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**31))
def test_rand_int_has_exactly_the_asked_digits(digits: int, seed: int) -> None:
    value = draw(f"${{randInt({digits})}}", seed)
    assert len(value) == digits and value[0] != "0"


@pytest.mark.parametrize(
    ("expr", "said"),
    [
        ("${randInt(x)}", "randInt expects whole numbers (randInt(n) or randInt(a,b)), got 'x'"),
        ("${randInt(1,2,3)}", "randInt takes 1 to 2 arguments"),
        ("${randInt()}", "randInt takes 1 to 2 arguments (randInt(n) or randInt(a,b)), got 0"),
        ("${randInt(5,2)}", "randInt(a,b) needs a <= b, got 5 > 2"),
        ("${randInt(0)}", "randInt expects counts from 1 to 30"),
        ("${randStr(99)}", "randStr expects counts from 1 to 30"),
        ("${randDec(1,2,3)}", "randDec takes 1 to 2 arguments"),
        ("${uuid(4)}", "uuid takes no arguments (uuid), got 1"),
        ("${daysFromNow()}", "daysFromNow takes 1 argument (daysFromNow(n)), got 0"),
        ("${daysFromNow(soon)}", "daysFromNow expects whole numbers"),
        ("${randFrom()}", "randFrom takes at least 1 argument"),
        ("${randFrom(a,,b)}", "randFrom has an empty choice"),
        ("${randint(5)}", "unknown generator 'randint' in ${randint(5)}; expected one of: uuid"),
    ],
)
def test_wrong_arguments_are_named_with_what_was_expected(expr: str, said: str) -> None:
    problems = expression_problems(f"id-{expr}")
    assert len(problems) == 1 and said in problems[0], problems
    if not expr.startswith("${randint"):
        with pytest.raises(ValueError, match=re.escape(said)):
            draw(expr)


def test_valid_expressions_have_no_problems() -> None:
    assert expression_problems("${randInt(3,5)}-${uuid}-${daysFromNow(-3)}-${NAME}") == []
