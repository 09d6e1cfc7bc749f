"""RFC 9457 problem responses and small request-body validators for the hosted API.

Every error the API returns on purpose is ``application/problem+json`` with ``type``,
``title``, ``status`` and ``detail``; validation errors add ``errors: [{field, message}]`` and
``field`` (the first offending field), so a client can point at what to fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import attrs
from aiohttp import web

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


@attrs.frozen
class FieldIssue:
    field: str
    message: str


def invalid(issues: Sequence[FieldIssue]) -> NoReturn:
    """Raise a 400 naming every field that is wrong (the first one also as ``field``)."""
    detail = "; ".join(f"{i.field}: {i.message}" for i in issues)
    raise ProblemError(
        400,
        f"invalid request body: {detail}",
        field=issues[0].field,
        errors=[{"field": i.field, "message": i.message} for i in issues],
    )


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is missing, not JSON or not an object."""
    raw = await request.read()
    if not raw.strip():
        invalid([FieldIssue("$", "a JSON object body is required")])
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        invalid([FieldIssue("$", f"body is not valid JSON ({exc})")])
    if not isinstance(body, dict):
        invalid([FieldIssue("$", f"expected a JSON object, got {_json_type(body)}")])
    return body


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


def string(*, non_empty: bool = True, choices: Sequence[str] | None = None) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected a string, got {_json_type(value)}"
        if non_empty and not value.strip():
            return "must not be empty"
        if choices is not None and value not in choices:
            return f"expected one of {', '.join(choices)}; got {value!r}"
        return None

    return check


def url() -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected a URL string, got {_json_type(value)}"
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            return f"expected an http:// or https:// URL, got {value!r}"
        return None

    return check


def obj() -> Check:
    def check(value: Any) -> str | None:
        return None if isinstance(value, dict) else f"expected an object, got {_json_type(value)}"

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
