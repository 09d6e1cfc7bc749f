"""Errors a user can act on: each says what is wrong, where, and what was expected."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from lamdis_core.domain.base import Value


class LamdisError(Exception):
    """Base class of every error lamdis raises on purpose."""


@attrs.frozen(repr=False, eq=False)
class ConfigProblem(Value):
    """One thing wrong with a configuration file.

    Attributes:
        file: the file, as given or resolved (``None`` for an in-memory document).
        message: what is wrong and what was expected.
        json_path: where in the document, as ``$.tests[0].steps[2].type``.
        line: 1-based line number when the parser knows it.
        variable: for an unset ``${VAR}``, the environment variable's name.
    """

    file: str | None
    message: str
    json_path: str | None = None
    line: int | None = None
    variable: str | None = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        where = self.file or "<document>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.json_path:
            where = f"{where} at {self.json_path}"
        return f"{where}: {self.message}"


class ConfigError(LamdisError):
    """A configuration could not be loaded; nothing was run.

    Carries every problem found, not just the first, so one fix-and-retry round is enough,
    and the warnings found on the way (an unknown key is often the cause of an error).
    """

    def __init__(
        self, problems: Sequence[ConfigProblem], *, warnings: Sequence[ConfigProblem] = ()
    ) -> None:
        self.problems = tuple(problems)
        self.warnings = tuple(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


class TargetError(LamdisError):
    """The assistant under test could not answer a turn.

    Attributes:
        retryable: a later attempt may succeed (connection error, 429, 502-504, timeout).
        retry_after: seconds the target asked us to wait (``Retry-After``), if it said.
        status: the HTTP status, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class JudgeError(LamdisError):
    """The judge could not give a verdict. A check that meets this is an ``error``, never a pass."""

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class RequestError(LamdisError):
    """A ``request`` step or an OAuth token fetch failed."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class InterpolationError(LamdisError):
    """A ``${...}`` reference resolved to nothing in a place where that is not allowed."""


class AdapterNotInstalledError(LamdisError):
    """Configuration asked for an adapter whose package is not installed."""
