"""The runs list's query: one reading of its parameters for every caller (the API's
``GET /internal/runs``, the UI's runs page, ``lamdis runs list`` on a database), and the
opaque page cursors it hands out.

The callers spell parameters differently (the API says ``orgId``, the UI's links ``org``), so
:func:`parse_run_query` takes the spelling as :class:`RunQueryNames`; what each value may be,
and what a wrong one is told, is the same everywhere.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TypeVar

import attrs

from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.ports.store import RunCursor, RunFilter
from lamdis_core.service.errors import InvalidQueryError, QueryIssue

MAX_LIST_LIMIT = 200
"""The most runs one :meth:`RunService.list` returns."""

MAX_CURSOR_LENGTH = 512
"""A cursor this service made is far shorter; a longer one is refused before decoding."""

_Choice = TypeVar("_Choice", bound=Enum)

_HEX = frozenset("0123456789abcdef")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_VERSION = "r1"


@attrs.frozen(kw_only=True)
class RunQueryNames:
    """How a caller spells the runs list's parameters; ``None``: the caller does not take it
    (``limit`` and ``offset`` on the UI, whose pages have a fixed size)."""

    org: str = "orgId"
    suite: str = "suiteId"
    env: str = "envId"
    status: str = "status"
    trigger: str = "trigger"
    branch: str = "branch"
    commit: str = "commit"
    created_from: str = "from"
    created_to: str = "to"
    before: str = "before"
    after: str = "after"
    limit: str | None = "limit"
    offset: str | None = "offset"
    lenient: bool = False
    """A form's reading: values are stripped and an empty one means not given. Otherwise
    (an API) only an empty id means not given; an empty status, date, commit, cursor or
    number is wrong, as the API's description says."""

    def accepted(self) -> tuple[str, ...]:
        """Every parameter name this spelling takes, in the documented order."""
        names = attrs.astuple(attrs.evolve(self, lenient=False))
        return tuple(name for name in names if isinstance(name, str))


API_NAMES = RunQueryNames()
"""The hosted API's spelling (camelCase ids, as in its JSON)."""


def encode_cursor(cursor: RunCursor) -> str:
    """The opaque text of a page position: give it back as ``before``/``after``.

    Its content (a version, the run's creation instant in microseconds and its id) is no
    contract: clients pass it through, so the store's order may change without breaking them.
    """
    at = cursor.created_at if cursor.created_at.tzinfo else cursor.created_at.replace(tzinfo=UTC)
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    raw = f"{_CURSOR_VERSION}.{micros}.{cursor.run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> RunCursor:
    """The position :func:`encode_cursor` wrote.

    Raises:
        ValueError: ``text`` is not a cursor this service made.
    """
    if not text or len(text) > MAX_CURSOR_LENGTH:
        raise ValueError("not a cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a cursor") from exc
    version, _, rest = raw.partition(".")
    micros, dot, run_id = rest.partition(".")
    if version != _CURSOR_VERSION or not dot or not run_id:
        raise ValueError("not a cursor")
    if not micros.isascii() or not micros.isdigit() or len(micros) > 18:
        raise ValueError("not a cursor")
    try:
        at = _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError as exc:  # past year 9999: no run was created then
        raise ValueError("not a cursor") from exc
    cursor = RunCursor(at, run_id)
    # Only the one spelling encode_cursor writes: the decoder skips stray characters and
    # reads leading zeros, which would give one position many texts.
    if encode_cursor(cursor) != text:
        raise ValueError("not a cursor")
    return cursor


def parse_run_query(
    query: Mapping[str, str],
    names: RunQueryNames = API_NAMES,
    *,
    default_limit: int = 20,
) -> RunFilter:
    """The :class:`RunFilter` of a runs list's parameters; an empty value means not given.

    ``from`` and ``to`` are UTC days (``YYYY-MM-DD``), both included; ``commit`` is a
    hexadecimal prefix of the commit, in either case; ``before``/``after`` are cursors of
    :func:`encode_cursor` (not both, and not with ``offset``).

    Raises:
        InvalidQueryError: naming every parameter that is wrong and what it expects.
    """
    issues: list[QueryIssue] = []

    def text(name: str | None) -> str | None:
        value = query.get(name) if name else None
        if value is not None and names.lenient:
            return value.strip() or None
        return value

    status = _choice(text(names.status), RunStatus, names.status, issues)
    trigger = _choice(text(names.trigger), Trigger, names.trigger, issues)
    commit = text(names.commit)
    if commit is not None and (not commit or not all(c in _HEX for c in commit.lower())):
        issues.append(
            QueryIssue(
                names.commit,
                f"{names.commit} {commit!r} is not hexadecimal (expected a SHA or its start)",
            )
        )
    created_from = _day(text(names.created_from), names.created_from, issues)
    until = _day(text(names.created_to), names.created_to, issues)
    before = _cursor(text(names.before), names.before, issues)
    after = _cursor(text(names.after), names.after, issues)
    if before and after:
        issues.append(
            QueryIssue(
                names.after, f"give {names.before} or {names.after}, not both (one page position)"
            )
        )
    limit = _integer(text(names.limit), names.limit, 1, MAX_LIST_LIMIT, issues)
    offset = _integer(text(names.offset), names.offset, 0, None, issues)
    if offset and (before or after):
        issues.append(
            QueryIssue(
                names.offset or "offset",
                f"expected no {names.offset} with {names.before} or {names.after}: "
                "a cursor already says where the page starts",
            )
        )
    if issues:
        raise InvalidQueryError(issues)
    return RunFilter(
        org_id=text(names.org) or None,
        suite_id=text(names.suite) or None,
        env_id=text(names.env) or None,
        status=status,
        trigger=trigger,
        branch=text(names.branch) or None,
        commit=commit.lower() if commit else None,
        created_from=created_from,
        # "to" names a day: every run of that day is in (UTC days, like the list's times)
        # (the last day there is has no day after it: no bound then)
        created_before=until + timedelta(days=1) if until and until.date() < date.max else None,
        before=before,
        after=after,
        limit=default_limit if limit is None else limit,
        offset=offset or 0,
    )


def _choice(
    value: str | None, kind: type[_Choice], name: str, issues: list[QueryIssue]
) -> _Choice | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        expected = ", ".join(str(member.value) for member in kind)
        issues.append(QueryIssue(name, f"unknown {name} {value!r}; expected one of {expected}"))
        return None


def _day(value: str | None, name: str, issues: list[QueryIssue]) -> datetime | None:
    if value is None:
        return None
    try:
        # only YYYY-MM-DD: fromisoformat also reads forms (20260101, 2026-W01-1) no one means
        if not (len(value) == 10 and value.isascii() and value[4] == value[7] == "-"):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        issues.append(QueryIssue(name, f"{name} {value!r} is not a date (expected YYYY-MM-DD)"))
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _cursor(value: str | None, name: str, issues: list[QueryIssue]) -> RunCursor | None:
    if value is None:
        return None
    try:
        return decode_cursor(value)
    except ValueError:
        issues.append(
            QueryIssue(
                name,
                f"{name} is not a page position from this list (expected a cursor the list "
                "returned)",
            )
        )
        return None


def _integer(
    value: str | None, name: str | None, low: int, high: int | None, issues: list[QueryIssue]
) -> int | None:
    if value is None or name is None:
        return None
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None
    if number is None or number < low or (high is not None and number > high):
        expected = f"from {low} to {high}" if high is not None else f"of {low} or more"
        issues.append(QueryIssue(name, f"{name} {value!r}: expected an integer {expected}"))
        return None
    return number


@attrs.frozen(kw_only=True)
class RunPage:
    """One page of the runs list, newest first, and where the pages beside it start.

    ``older`` (pass as ``before``) is set when runs older than the page match; ``newer``
    (pass as ``after``) when the page was reached by a position and newer runs may match.
    """

    runs: list[Run]
    older: RunCursor | None = None
    newer: RunCursor | None = None


def page_of(runs: list[Run], run_filter: RunFilter) -> RunPage:
    """The page of ``runs``, what the store answered for ``run_filter`` asked for one run
    more than its ``limit`` (the extra run only says there is another page)."""
    more = len(runs) > run_filter.limit
    paging_back = run_filter.after is not None
    if more:
        # the extra run is on the side being walked: the newest when walking back
        runs = runs[1:] if paging_back else runs[: run_filter.limit]
    positioned = run_filter.before is not None or paging_back or run_filter.offset > 0
    newer = older = None
    if runs:
        if positioned and (more or not paging_back):
            newer = RunCursor.of(runs[0])
        if more or paging_back:
            older = RunCursor.of(runs[-1])
    return RunPage(runs=runs, older=older, newer=newer)
