"""Data generators in test ``variables``: ``${uuid}``, ``${randInt(5)}``, ``${today}``...

A test's ``variables`` (``[{key, value, description?}]``, the newer lamdis format) are
resolved once per test, before its ``preSteps``: every ``${name}`` or ``${name(args)}`` in a
value whose ``name`` is a generator is replaced by a fresh value, and the result lands in
``var.<key>``. Other ``${...}`` references are left as written.

Random values come from a :class:`random.Random` seeded per test (run seed, test id,
assistant, repeat), so ``--seed N`` gives the same values on every run whatever the
concurrency; dates come from the engine's clock.

===============  =========  ==========================================================
generator        arguments  value
===============  =========  ==========================================================
uuid             none       a version-4 UUID
randInt(n)       1 or 2     an integer with exactly ``n`` digits; ``randInt(a,b)``: with
                            ``a`` to ``b`` digits (the length picked at random)
randDec(i,d)     1 or 2     ``i`` integer digits, a dot, ``d`` decimals (``d`` default 2)
randStr(n)       0 or 1     ``n`` letters and digits (default 8)
randFrom(a,...)  1 or more  one of the arguments (trimmed)
email            none       ``test_<8 hex>@test.lamdis.io``
today, tomorrow, none       a date ``YYYY-MM-DD`` (UTC)
yesterday
daysFromNow(n)   1          the date ``n`` days from today (negative: the past)
now, isoDate     none       the time, ISO 8601 with milliseconds (``...T08:04:38.123Z``)
timestamp        none       Unix time in seconds
timestampMs      none       Unix time in milliseconds
===============  =========  ==========================================================
"""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from lamdis_core.domain.base import Value

__all__ = [
    "GENERATORS",
    "MAX_DIGITS",
    "execution_random",
    "expression_problems",
    "resolve_value",
    "resolve_variables",
]

MAX_DIGITS = 30
"""The largest digit or character count a generator accepts (bigger is surely a typo)."""

_CALL = re.compile(r"\$\{\s*([A-Za-z_]\w*)\s*(?:\(([^()]*)\))?\s*\}")
_ALPHANUMERIC = string.ascii_letters + string.digits


@attrs.frozen(repr=False, eq=False)
class _Generator(Value):
    min_args: int
    max_args: int | None
    usage: str
    make: Callable[[random.Random, datetime, list[str]], str]
    integer_args: bool = True


def _digits(rng: random.Random, count: int) -> str:
    return str(rng.randint(10 ** (count - 1), 10**count - 1))


def _rand_int(rng: random.Random, _: datetime, args: list[str]) -> str:
    low = int(args[0])
    high = int(args[1]) if len(args) > 1 else low
    return _digits(rng, rng.randint(low, high))


def _rand_dec(rng: random.Random, _: datetime, args: list[str]) -> str:
    whole = int(args[0])
    decimals = int(args[1]) if len(args) > 1 else 2
    fraction = rng.randint(0, 10**decimals - 1)
    return f"{_digits(rng, whole)}.{fraction:0{decimals}d}"


def _rand_str(rng: random.Random, _: datetime, args: list[str]) -> str:
    length = int(args[0]) if args else 8
    return "".join(rng.choice(_ALPHANUMERIC) for _ in range(length))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _day(now: datetime, days: int) -> str:
    return (now.astimezone(UTC) + timedelta(days=days)).date().isoformat()


def _iso(now: datetime) -> str:
    moment = now.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


GENERATORS: Mapping[str, _Generator] = {
    "uuid": _Generator(0, 0, "uuid", lambda rng, now, a: _uuid(rng)),
    "randInt": _Generator(1, 2, "randInt(n) or randInt(a,b)", _rand_int),
    "randDec": _Generator(1, 2, "randDec(i,d)", _rand_dec),
    "randStr": _Generator(0, 1, "randStr(n)", _rand_str),
    "randFrom": _Generator(
        1, None, "randFrom(a,b,...)", lambda rng, now, a: rng.choice(a), integer_args=False
    ),
    "email": _Generator(
        0, 0, "email", lambda rng, now, a: f"test_{rng.getrandbits(32):08x}@test.lamdis.io"
    ),
    "today": _Generator(0, 0, "today", lambda rng, now, a: _day(now, 0)),
    "tomorrow": _Generator(0, 0, "tomorrow", lambda rng, now, a: _day(now, 1)),
    "yesterday": _Generator(0, 0, "yesterday", lambda rng, now, a: _day(now, -1)),
    "daysFromNow": _Generator(1, 1, "daysFromNow(n)", lambda rng, now, a: _day(now, int(a[0]))),
    "now": _Generator(0, 0, "now", lambda rng, now, a: _iso(now)),
    "isoDate": _Generator(0, 0, "isoDate", lambda rng, now, a: _iso(now)),
    "timestamp": _Generator(0, 0, "timestamp", lambda rng, now, a: str(int(now.timestamp()))),
    "timestampMs": _Generator(
        0, 0, "timestampMs", lambda rng, now, a: str(int(now.timestamp() * 1000))
    ),
}


def _split_args(raw: str | None) -> list[str]:
    if raw is None or not raw.strip():
        return []
    return [part.strip() for part in raw.split(",")]


def _arg_problem(name: str, gen: _Generator, args: list[str]) -> str | None:
    count = len(args)
    if count < gen.min_args or (gen.max_args is not None and count > gen.max_args):
        if gen.max_args == 0:
            wanted = "no arguments"
        elif gen.max_args is None:
            wanted = f"at least {gen.min_args} argument"
        elif gen.min_args == gen.max_args:
            wanted = f"{gen.min_args} argument{'s' if gen.min_args != 1 else ''}"
        else:
            wanted = f"{gen.min_args} to {gen.max_args} arguments"
        return f"{name} takes {wanted} ({gen.usage}), got {count}"
    if not gen.integer_args:
        if any(not a for a in args):
            return f"{name} has an empty choice ({gen.usage})"
        return None
    numbers: list[int] = []
    for arg in args:
        try:
            numbers.append(int(arg))
        except ValueError:
            return f"{name} expects whole numbers ({gen.usage}), got {arg!r}"
    if name == "daysFromNow":
        return None
    for number in numbers:
        if not 1 <= number <= MAX_DIGITS:
            return f"{name} expects counts from 1 to {MAX_DIGITS} ({gen.usage}), got {number}"
    if name == "randInt" and len(numbers) == 2 and numbers[0] > numbers[1]:
        return f"randInt(a,b) needs a <= b, got {numbers[0]} > {numbers[1]}"
    return None


def expression_problems(value: Any) -> list[str]:
    """What is wrong with the generator calls in ``value`` (empty when nothing is).

    ``${name(...)}`` with an unknown ``name`` is a problem (only generators take arguments);
    a bare ``${NAME}`` that is no generator is left alone (it may be a reference).
    """
    if not isinstance(value, str):
        return []
    problems: list[str] = []
    for match in _CALL.finditer(value):
        name, raw_args = match.group(1), match.group(2)
        gen = GENERATORS.get(name)
        if gen is None:
            if raw_args is not None:
                problems.append(
                    f"unknown generator {name!r} in {match.group(0)}; expected one of: "
                    + ", ".join(GENERATORS)
                )
            continue
        problem = _arg_problem(name, gen, _split_args(raw_args))
        if problem:
            problems.append(problem)
    return problems


def resolve_value(value: Any, rng: random.Random, now: datetime) -> Any:
    """``value`` with every generator call replaced; non-strings are returned as they are.

    Raises:
        ValueError: a generator call with wrong arguments (the loader reports these first).
    """
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        gen = GENERATORS.get(name)
        if gen is None:
            return match.group(0)
        args = _split_args(match.group(2))
        problem = _arg_problem(name, gen, args)
        if problem:
            raise ValueError(problem)
        return gen.make(rng, now, args)

    return _CALL.sub(replace, value)


def resolve_variables(
    definitions: Iterable[tuple[str, Any]], rng: random.Random, now: datetime
) -> dict[str, Any]:
    """Each ``(key, value)`` resolved once, in order (a later key overrides an earlier one)."""
    return {key: resolve_value(value, rng, now) for key, value in definitions}


def execution_random(seed: int, test_id: str, assistant_id: str, repeat: int) -> random.Random:
    """The generator source for one test execution: fixed by the run seed and the test's
    place in the run, so concurrency and order never change what a test draws."""
    return random.Random(f"{seed}:{test_id}:{assistant_id}:{repeat}")
