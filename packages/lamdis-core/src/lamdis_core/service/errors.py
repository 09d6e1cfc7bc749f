"""What the service layer raises when it is asked for something it cannot do.

Each error says what was asked and what is wrong; ``field`` names the part of the request
at fault (as the HTTP API spells it), so an adapter can point at it. A misuse is never a
silent no-op: an unknown run, suite, environment or test is an error, not ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from lamdis_core.domain.errors import LamdisError
from lamdis_core.ports.store import NotClaimedError


class ServiceError(LamdisError):
    """Base class of the service layer's errors.

    Attributes:
        field: the request field at fault (``suiteId``, ``tests``...), or ``None``.
    """

    field: str | None = None


class NotFoundError(ServiceError):
    """Something the request names does not exist."""


class UnknownRunError(NotFoundError):
    """No run has this id (in the store the service reads)."""

    def __init__(self, run_id: str, *, role: str = "run") -> None:
        self.run_id = run_id
        super().__init__(f"unknown {role} {run_id!r}")


class UnknownBaseRunError(UnknownRunError):
    """The run a comparison names as its base does not exist."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id, role="base run")


class NoBaselineError(NotFoundError):
    """A comparison with ``last-passed`` found no passed run of the same suite and
    environment before the run."""

    def __init__(self, run: str, suite_id: str | None, env_id: str | None) -> None:
        self.run_id = run
        super().__init__(
            f"no passed run of suite {suite_id!r} in environment {env_id!r} to compare run "
            f"{run!r} with"
        )


class UnknownSuiteError(NotFoundError):
    """The catalog holds no suite with this id (in this organization, when one is given)."""

    field = "suiteId"

    def __init__(self, suite_id: str, org_id: str | None) -> None:
        self.suite_id = suite_id
        self.org_id = org_id
        where = f" in organization {org_id!r}" if org_id else ""
        super().__init__(f"unknown suite {suite_id!r}{where}")


class UnknownEnvironmentError(NotFoundError):
    """The catalog holds no environment with this id in the run's organization."""

    field = "envId"

    def __init__(self, env_id: str, org_id: str | None) -> None:
        self.env_id = env_id
        self.org_id = org_id
        where = f" in organization {org_id!r}" if org_id else " in any organization"
        super().__init__(f"unknown environment {env_id!r}{where}")


class UnknownTestsError(NotFoundError):
    """Tests asked for by id are not tests of the suite."""

    field = "tests"

    def __init__(self, unknown: Sequence[str], suite_id: str, known: Sequence[str]) -> None:
        self.unknown = tuple(unknown)
        self.suite_id = suite_id
        self.known = tuple(known)
        listed = ", ".join(sorted(known)[:20]) or "none"
        super().__init__(
            f"unknown test id(s) {', '.join(map(repr, unknown))} in suite {suite_id!r}; "
            f"the suite's tests: {listed}"
        )


class InvalidRequestError(ServiceError):
    """A value of the request is out of its range or of the wrong type."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


@attrs.frozen
class QueryIssue:
    """One wrong parameter: its name as the caller spells it, and what was expected."""

    name: str
    message: str


class InvalidQueryError(ServiceError):
    """Parameters of the runs list are wrong; ``issues`` names each (nothing was listed)."""

    def __init__(self, issues: Sequence[QueryIssue]) -> None:
        self.issues = tuple(issues)
        self.field = self.issues[0].name if self.issues else None
        super().__init__("; ".join(f"{i.name}: {i.message}" for i in self.issues))


__all__ = [
    "InvalidQueryError",
    "InvalidRequestError",
    "NoBaselineError",
    "NotClaimedError",
    "NotFoundError",
    "QueryIssue",
    "ServiceError",
    "UnknownBaseRunError",
    "UnknownEnvironmentError",
    "UnknownRunError",
    "UnknownSuiteError",
    "UnknownTestsError",
]
