"""The hosted API's aiohttp application: typed app keys, middlewares and route tables.

:func:`lamdis_http.bootstrap.build_app` is the one place that composes adapters; this module
only knows how to serve them. Handlers reach services through the typed keys below.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from lamdis_core.logs import get_logger
from lamdis_core.ports.catalog import Catalog
from lamdis_core.ports.clock import Clock
from lamdis_core.ports.judge import Judge
from lamdis_core.ports.store import RunStore
from lamdis_core.service.errors import ServiceError

from lamdis_http._problems import (
    MAX_NAME_LENGTH,
    ProblemError,
    from_service_error,
    problem,
    text_issue,
)

if TYPE_CHECKING:
    from lamdis_core.service import RunService, WorkerPool
    from lamdis_core.service.catalog import CatalogService

    from lamdis_http.settings import Settings

logger = get_logger()

MAX_BODY_BYTES = 1024 * 1024
"""Request bodies above 1 MiB are refused with 413."""

SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("lamdis.settings")
STORE_KEY: web.AppKey[RunStore] = web.AppKey("lamdis.store")
CATALOG_KEY: web.AppKey[Catalog] = web.AppKey("lamdis.catalog")
JUDGE_KEY: web.AppKey[Judge] = web.AppKey("lamdis.judge")
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("lamdis.clock")
WORKER_KEY: web.AppKey[WorkerPool] = web.AppKey("lamdis.worker")
SERVICE_KEY: web.AppKey[RunService] = web.AppKey("lamdis.service")
"""Start, stop, get and list runs (:class:`lamdis_core.service.RunService`); handlers call it
and let its errors through: the middleware answers them as problems."""
CATALOG_SERVICE_KEY: web.AppKey[CatalogService] = web.AppKey("lamdis.catalog_service")
"""Catalog documents (:class:`lamdis_core.service.catalog.CatalogService`), likewise."""
STORE_NAME_KEY: web.AppKey[str] = web.AppKey("lamdis.store_name")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Binds a request id to every log line of the request and logs one access line.

    The access line has method, path, status and duration only: never headers (tokens,
    signatures and Authorization values stay out of the logs) and never bodies.
    """
    incoming = request.headers.get("x-request-id", "")
    request_id = (
        incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    )
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await _handle(request, handler)
        except web.HTTPException as exc:
            # aiohttp's own errors (404 route, 405 method, 413 body) become problem bodies too,
            # keeping the headers that belong to them (405's Allow).
            response = problem(exc.status, exc.reason or "error")
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
        status = response.status
        logger.info(
            "http.request",
            request_id=request_id,
            method=request.method,
            path=request.path,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
    response.headers["x-request-id"] = request_id
    return response


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return problem(
            413, f"request body is {length} bytes; the limit is {MAX_BODY_BYTES} (1 MiB)"
        )
    try:
        _check_parameters(request)
        return await handler(request)
    except ProblemError as exc:
        return exc.response()
    except ServiceError as exc:
        return from_service_error(exc).response()
    except web.HTTPRequestEntityTooLarge:
        return problem(413, f"request body exceeds the limit of {MAX_BODY_BYTES} bytes (1 MiB)")
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("http.unhandled_error", method=request.method, path=request.path)
        return problem(500, "internal error; see the server log for this request id")


def _check_parameters(request: web.Request) -> None:
    """Path and query parameters are ids and names: NUL, lone surrogates and absurd lengths
    are refused here, before a store sees them (PostgreSQL cannot hold a NUL)."""
    params = [(name, value, "path parameter") for name, value in request.match_info.items()]
    params += [(name, value, "query parameter") for name, value in request.query.items()]
    for name, value, kind in params:
        message = text_issue(value)
        if message is None and len(value) > MAX_NAME_LENGTH:
            message = f"is {len(value)} characters long; at most {MAX_NAME_LENGTH}"
        if message is not None:
            raise ProblemError(
                400,
                f"{kind} {name}: {message}",
                field=name,
                errors=[{"field": name, "message": message}],
            )


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """A JSON response (``application/json``), always strict JSON.

    A non-finite number (which requests cannot bring in, but an engine result may hold) is
    written as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``: visible and still
    parseable, where bare ``NaN`` would break every strict client.
    """
    try:
        text = json.dumps(data, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), allow_nan=False)
    return web.Response(text=text, status=status, content_type="application/json")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def new_application(*, middlewares: list[Any]) -> web.Application:
    """An application with the body limit and the request-context middleware first."""
    return web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[request_context_middleware, *middlewares],
    )
