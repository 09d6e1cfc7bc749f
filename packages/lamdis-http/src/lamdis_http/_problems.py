"""RFC 9457 problem responses and small request-body validators for the hosted API.

Every error the API returns on purpose is ``application/problem+json`` with ``type``,
``title``, ``status`` and ``detail``; validation errors add ``errors: [{field, message}]`` and
``field`` (the first offending field), so a client can point at what to fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn

import attrs
from aiohttp import web
from lamdis_core.service.catalog import DocumentExistsError, InvalidDocumentError
from lamdis_core.service.errors import (
    InvalidQueryError,
    InvalidRequestError,
    NotFoundError,
    ServiceError,
)

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def problem(status: int, detail: str, **extra: Any) -> web.Response:
    """A problem response with ``status`` and a human-readable ``detail``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
    )


class ProblemError(Exception):
    """Raised by handlers and helpers; the error middleware turns it into a problem response."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra

    def response(self) -> web.Response:
        return problem(self.status, self.detail, **self.extra)


def from_service_error(exc: ServiceError) -> ProblemError:
    """The problem a service error is over HTTP: 400 naming every field for a request or
    document that does not fit, 404 for what does not exist, 409 for an id already taken; the
    field at fault is named as the request spells it."""
    if isinstance(exc, InvalidDocumentError):
        return invalid_problem([FieldIssue(i.field, i.message) for i in exc.issues])
    if isinstance(exc, InvalidRequestError):
        return invalid_problem([FieldIssue(exc.field or "$", exc.reason)])
    if isinstance(exc, InvalidQueryError):
        return invalid_problem([FieldIssue(i.name, i.message) for i in exc.issues], what="query")
    status = 400
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, DocumentExistsError):
        status = 409
    extra = {"field": exc.field} if exc.field else {}
    return ProblemError(status, str(exc), **extra)


@attrs.frozen
class FieldIssue:
    field: str
    message: str


def invalid(issues: Sequence[FieldIssue]) -> NoReturn:
    """Raise a 400 naming every field that is wrong (the first one also as ``field``)."""
    raise invalid_problem(issues)


def invalid_problem(issues: Sequence[FieldIssue], *, what: str = "request body") -> ProblemError:
    """The 400 naming every field that is wrong (the first one also as ``field``)."""
    detail = "; ".join(f"{i.field}: {i.message}" for i in issues)
    return ProblemError(
        400,
        f"invalid {what}: {detail}",
        field=issues[0].field,
        errors=[{"field": i.field, "message": i.message} for i in issues],
    )


MAX_JSON_DEPTH = 64
"""Request bodies nested deeper than this are refused (free-form fields have tighter limits)."""

MAX_INT_DIGITS = 4300
"""Python's own limit for converting digits to an int; longer integers are refused."""

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class _Unrepresentable:
    """A parsed number the service cannot keep as written (``NaN``, ``1e999``, 5,000 digits)."""

    def __init__(self, why: str) -> None:
        self.why = why


def _parse_constant(text: str) -> _Unrepresentable:
    return _Unrepresentable(f"{text} is not a JSON number; send a finite number or null")


def _parse_float(text: str) -> float | _Unrepresentable:
    value = float(text)
    if math.isinf(value):
        return _Unrepresentable(f"{text[:40]} is beyond the range of a double")
    return value


def _parse_int(text: str) -> int | _Unrepresentable:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Unrepresentable(f"an integer of {digits} digits; at most {MAX_INT_DIGITS}")
    return int(text)


def json_path(parts: Sequence[str | int]) -> str:
    """``["gitContext", "a", 0]`` -> ``gitContext.a[0]`` (``$`` for the body itself)."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "$"


def content_issue(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, free_form: Collection[str] = ()
) -> FieldIssue | None:
    """The first value in ``value`` the service cannot store as sent, with its JSON path.

    Refused: nesting deeper than ``max_depth``, ``NaN``/``Infinity`` and out-of-range numbers,
    and text (values or keys) holding NUL or a lone surrogate (half an emoji), which the
    stores would drop or replace silently.
    Top-level fields named in ``free_form`` are
    not held to ``max_depth``: their own check bounds them (tighter) and says so.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        current, path = stack.pop()
        if len(path) > max_depth and not (path and path[0] in free_form):
            return FieldIssue(json_path(path[:max_depth]), f"nested deeper than {max_depth} levels")
        if isinstance(current, _Unrepresentable):
            return FieldIssue(json_path(path), current.why)
        if isinstance(current, float) and not math.isfinite(current):
            return FieldIssue(json_path(path), "NaN and Infinity are not JSON numbers")
        if isinstance(current, str):
            issue = text_issue(current)
            if issue:
                return FieldIssue(json_path(path), issue)
        elif isinstance(current, dict):
            for key, item in current.items():
                issue = text_issue(key)
                if issue:
                    return FieldIssue(json_path((*path, key)), f"the key {issue}")
                stack.append((item, (*path, key)))
        elif isinstance(current, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(current))
    return None


def text_issue(text: str) -> str | None:
    """Why ``text`` cannot be stored as sent (NUL, a lone surrogate), or ``None``."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return f"contains a NUL character (U+0000) at offset {found.start()}"
    return (
        f"contains a lone surrogate (U+{ord(found.group()):04X}) at offset {found.start()}: "
        "not valid Unicode (half of a character)"
    )


async def json_object(request: web.Request, *, free_form: Collection[str] = ()) -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is missing, not JSON or not an object,
    or holds what cannot be stored as sent (see :func:`content_issue`), naming where."""
    raw = await request.read()
    if not raw.strip():
        invalid([FieldIssue("$", "a JSON object body is required")])
    try:
        body = json.loads(
            raw,
            parse_constant=_parse_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except RecursionError:
        invalid([FieldIssue("$", f"nested too deeply; at most {MAX_JSON_DEPTH} levels")])
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        invalid([FieldIssue("$", f"body is not valid JSON ({_short(exc)})")])
    if not isinstance(body, dict):
        invalid([FieldIssue("$", f"expected a JSON object, got {_json_type(body)}")])
    issue = content_issue(body, free_form=free_form)
    if issue is not None:
        invalid([issue])
    return body


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "…"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


Check = Callable[[Any], str | None]
"""Returns an error message for a bad value, or ``None`` when the value is fine."""


MAX_NAME_LENGTH = 256
"""Ids and names (in bodies, paths and queries) are at most this long: two of them in one
request line, percent-encoded, stay within the server's 8 KiB line limit."""

MAX_PATH_LENGTH = 1024
"""File paths and suite names of run-file and JSON mode are at most this long."""


MAX_URL_LENGTH = 4096


def string(
    *,
    non_empty: bool = True,
    choices: Sequence[str] | None = None,
    max_length: int | None = None,
) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected a string, got {_json_type(value)}"
        if non_empty and not value.strip():
            return "must not be empty"
        if max_length is not None and len(value) > max_length:
            return f"is {len(value)} characters long; at most {max_length}"
        if choices is not None and value not in choices:
            return f"expected one of {', '.join(choices)}; got {value!r}"
        return None

    return check


def name(*, non_empty: bool = True) -> Check:
    """An id or name: a string of at most :data:`MAX_NAME_LENGTH` characters."""
    return string(non_empty=non_empty, max_length=MAX_NAME_LENGTH)


def path(*, non_empty: bool = True) -> Check:
    """A file path or suite name: a string of at most :data:`MAX_PATH_LENGTH` characters."""
    return string(non_empty=non_empty, max_length=MAX_PATH_LENGTH)


def url() -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected a URL string, got {_json_type(value)}"
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            return f"expected an http:// or https:// URL, got {value[:200]!r}"
        if len(value) > MAX_URL_LENGTH:
            return f"is {len(value)} characters long; at most {MAX_URL_LENGTH}"
        return None

    return check


def obj() -> Check:
    def check(value: Any) -> str | None:
        return None if isinstance(value, dict) else f"expected an object, got {_json_type(value)}"

    return check


def free_object(*, max_depth: int = 32, max_bytes: int = 16 * 1024) -> Check:
    """A free-form JSON object (``gitContext``): bounded depth and encoded size, so what is
    stored can always be read back and shown."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"expected an object, got {_json_type(value)}"
        issue = content_issue(value, max_depth=max_depth)
        if issue is not None:
            return f"{issue.field}: {issue.message}"
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        if size > max_bytes:
            return f"is {size} bytes as JSON; at most {max_bytes} ({max_bytes // 1024} KiB)"
        return None

    return check


def boolean() -> Check:
    def check(value: Any) -> str | None:
        return (
            None if isinstance(value, bool) else f"expected true or false, got {_json_type(value)}"
        )

    return check


def number(*, minimum: float | None = None, maximum: float | None = None) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {_json_type(value)}"
        if minimum is not None and value < minimum:
            return f"must be >= {minimum}"
        if maximum is not None and value > maximum:
            return f"must be <= {maximum}"
        return None

    return check


def integer(*, minimum: int, maximum: int) -> Check:
    """A whole JSON number (``7``, not ``7.5``, ``"7"`` or ``true``) within the bounds."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {_json_type(value)}"
        if not minimum <= value <= maximum:
            return f"expected an integer from {minimum} to {maximum}, got {value}"
        return None

    return check


def array(of: Check, *, min_items: int = 0) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"expected an array, got {_json_type(value)}"
        if len(value) < min_items:
            return f"expected at least {min_items} item(s)"
        for index, element in enumerate(value):
            message = of(element)
            if message:
                return f"[{index}]: {message}"
        return None

    return check


def validate(
    body: Mapping[str, Any],
    *,
    required: Mapping[str, Check],
    optional: Mapping[str, Check] | None = None,
    allow_unknown: bool = False,
    nullable: Sequence[str] = (),
) -> None:
    """Check ``body`` against field rules; raise a 400 naming every bad field.

    Unknown fields are an error unless ``allow_unknown``: a typo such as ``suiteID`` must not be
    silently ignored. Fields in ``nullable`` may be ``null`` (treated as absent).
    """
    optional = optional or {}
    issues: list[FieldIssue] = []
    for name, check in required.items():
        if name not in body or body[name] is None:
            issues.append(FieldIssue(name, "is required"))
            continue
        message = check(body[name])
        if message:
            issues.append(FieldIssue(name, message))
    for name, check in optional.items():
        if name not in body or (body[name] is None and name in nullable):
            continue
        message = check(body[name])
        if message:
            issues.append(FieldIssue(name, message))
    if not allow_unknown:
        known = set(required) | set(optional)
        for name in body:
            if name not in known:
                issues.append(
                    FieldIssue(name, f"unknown field; expected one of: {', '.join(sorted(known))}")
                )
    if issues:
        invalid(issues)
