"""Small helpers shared by the commands. Imported at parser-build time: keep it light."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report a process stopped by it


class UsageError(Exception):
    """A command-line value is wrong; the CLI prints it and exits 2 without running anything."""


def print_problems(
    heading: str,
    problems: Iterable[Any],
    *,
    warnings: Iterable[Any] = (),
    file: TextIO | None = None,
) -> None:
    """Print a heading and every problem on its own line (``file:line at $.path: message``),
    then the warnings (a misspelt key warned about is often what caused the error)."""
    out = file or sys.stderr
    items = list(problems)
    print(f"lamdis: {heading} ({len(items)} problem{'s' if len(items) != 1 else ''}):", file=out)
    for problem in items:
        print(f"  {problem}", file=out)
    for warning in warnings:
        print(f"lamdis: warning: {warning}", file=out)


def positive_int(value: str, *, what: str) -> int:
    """Parse a positive integer or raise :class:`UsageError` saying what was expected."""
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{what} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
    return number


def int_in_range(value: str, *, what: str, low: int, high: int) -> int:
    """Parse an integer in ``[low, high]`` or raise :class:`UsageError` naming the range."""
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise UsageError(f"{what} must be an integer from {low} to {high:,}, got {value!r}")
    return number
