"""The hosted UI at ``/ui/``: the runs list and the run page, server-rendered with the HTML
report's templates.

Auth follows the API's: without ``LAMDIS_API_TOKEN`` the service listens on loopback only and
the UI asks for nothing. With a token, a login form takes it (in the body, never in a URL) and
sets a signed, expiring, HttpOnly, SameSite=Strict session cookie; changing the token ends
every session. Every page forbids framing and anything not served by the service itself
(``Content-Security-Policy: default-src 'self'``): the pages carry no inline script or style.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.results import Run, RunStatus
from lamdis_core.ports.store import RunFilter

from lamdis_http.app import SETTINGS_KEY, STORE_KEY
from lamdis_http.ui import environment, run_view, stylesheet

logger = structlog.get_logger()

PREFIX = "/ui/"
COOKIE = "lamdis_session"
SESSION_SECONDS = 12 * 3600
PAGE_SIZE = 25
MAX_PAGE = 10_000

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_ui(app: web.Application) -> None:
    from lamdis_http.ui import history  # it builds on this module's helpers

    # Before this module's routes: their catch-all answers every other /ui/ path with a 404.
    app.router.add_routes(history.routes)
    app.router.add_routes(routes)


# --- sessions -----------------------------------------------------------------------------


def _key(token: str) -> bytes:
    # Derived from the token: a new token invalidates every session signed with the old one.
    return hmac.new(token.encode("utf-8"), b"lamdis-ui-session-v1", hashlib.sha256).digest()


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def new_session(token: str, *, now: float) -> str:
    body = f"{int(now) + SESSION_SECONDS}.{secrets.token_hex(16)}"
    return f"{body}.{_sign(_key(token), body)}"


def session_valid(token: str, value: str | None, *, now: float) -> bool:
    if not value or value.count(".") != 2:
        return False
    body, _, sig = value.rpartition(".")
    if not hmac.compare_digest(_sign(_key(token), body).encode(), sig.encode("ascii", "replace")):
        return False
    expires = body.partition(".")[0]
    return expires.isdigit() and int(expires) > now


def csrf_token(token: str, session: str) -> str:
    """The logout form's token: bound to the session, useless without it."""
    return _sign(_key(token), "csrf." + session)


def _token(request: web.Request) -> str | None:
    return request.app[SETTINGS_KEY].api_token


def _signed_in(request: web.Request) -> bool:
    token = _token(request)
    return token is None or session_valid(token, request.cookies.get(COOKIE), now=time.time())


# --- rendering ----------------------------------------------------------------------------


def _page(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    token = _token(request)
    session = request.cookies.get(COOKIE)
    signed_in = token is not None and session_valid(token, session, now=time.time())
    html = (
        environment()
        .get_template(template)
        .render(
            auth=signed_in,
            csrf=csrf_token(token, session) if signed_in and token and session else "",
            **context,
        )
    )
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_found(request: web.Request, what: str) -> web.Response:
    return _page(request, "not_found.html", status=404, what=what, title="Not found")


def _redirect(location: str) -> web.Response:
    # Returned, not raised: the service's error middleware turns raised HTTP errors into
    # problem documents, which would drop the Location header.
    return web.Response(status=303, headers={**SECURITY_HEADERS, "Location": location})


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not _signed_in(request):
            return _redirect("/ui/login")
        return await handler(request)

    return guarded


# --- pages --------------------------------------------------------------------------------


@routes.get("/ui")
async def _root(request: web.Request) -> web.StreamResponse:
    return _redirect(PREFIX)


@routes.get("/ui/static/lamdis.css")
async def _css(request: web.Request) -> web.StreamResponse:
    response = web.Response(text=stylesheet(), content_type="text/css", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@routes.get("/ui/login")
async def _login_form(request: web.Request) -> web.StreamResponse:
    if _token(request) is None:
        return _redirect(PREFIX)
    return _page(request, "login.html", title="Sign in", error=None)


@routes.post("/ui/login")
async def _login(request: web.Request) -> web.StreamResponse:
    token = _token(request)
    if token is None:
        return _redirect(PREFIX)
    form = await request.post()
    given = form.get("token")
    if not isinstance(given, str) or not hmac.compare_digest(
        given.encode("utf-8"), token.encode("utf-8")
    ):
        logger.warning("ui.bad_token")
        return _page(request, "login.html", status=401, title="Sign in", error="Wrong token.")
    response = _redirect(PREFIX)
    response.set_cookie(
        COOKIE,
        new_session(token, now=time.time()),
        max_age=SESSION_SECONDS,
        path="/ui",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


@routes.post("/ui/logout")
async def _logout(request: web.Request) -> web.StreamResponse:
    token = _token(request)
    session = request.cookies.get(COOKIE)
    form = await request.post()
    if token is not None and session and session_valid(token, session, now=time.time()):
        given = form.get("csrf")
        if not isinstance(given, str) or not hmac.compare_digest(
            given.encode("ascii", "replace"), csrf_token(token, session).encode()
        ):
            return _page(request, "not_found.html", status=403, what="this form", title="Refused")
    response = _redirect("/ui/login" if token else PREFIX)
    response.del_cookie(COOKIE, path="/ui")
    return response


@routes.get("/ui/")
@_guarded
async def _runs(request: web.Request) -> web.StreamResponse:
    query = request.query
    filters = {name: query.get(name, "").strip() for name in ("suite", "env", "status")}
    statuses = [s.value for s in RunStatus]
    problems: list[str] = []
    status: RunStatus | None = None
    if filters["status"]:
        if filters["status"] in statuses:
            status = RunStatus(filters["status"])
        else:
            problems.append(f"unknown status {filters['status']!r}; expected one of the list")
    raw_page = query.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and 1 <= int(raw_page) <= MAX_PAGE else None
    if page is None:
        problems.append(f"page must be a whole number from 1 to {MAX_PAGE}")
        page = 1
    runs: list[Run] = []
    if not problems:
        runs = await request.app[STORE_KEY].list_runs(
            RunFilter(
                suite_id=filters["suite"] or None,
                env_id=filters["env"] or None,
                status=status,
                limit=PAGE_SIZE + 1,
                offset=(page - 1) * PAGE_SIZE,
            )
        )
    more = len(runs) > PAGE_SIZE
    return _page(
        request,
        "runs.html",
        status=400 if problems else 200,
        title="Runs",
        rows=[_row(run) for run in runs[:PAGE_SIZE]],
        filters=filters,
        statuses=statuses,
        problems=problems,
        page=page,
        previous=_page_query(filters, page - 1) if page > 1 else None,
        next=_page_query(filters, page + 1) if more else None,
    )


def _page_query(filters: dict[str, str], page: int) -> str:
    from urllib.parse import urlencode

    return "?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": page})


def _row(run: Run) -> dict[str, Any]:
    git = run.git_context if isinstance(run.git_context, dict) else {}
    commit = next((git[k] for k in ("sha", "commit") if isinstance(git.get(k), str)), None)
    duration = (
        (run.finished_at - run.started_at).total_seconds() * 1000
        if run.finished_at and run.started_at
        else None
    )
    return {
        "id": run.id,
        "created_at": run.created_at.isoformat(timespec="seconds") if run.created_at else "",
        "status": str(run.status),
        "suite": run.suite_id or "",
        "env": run.env_id or "",
        "trigger": str(run.trigger),
        "totals": run.totals,
        "pass_rate": run.totals.pass_rate if run.totals.total else None,
        "judge_avg": run.judge.avg_score,
        "duration_ms": duration,
        "commit": commit[:12] if commit else "",
    }


@routes.get("/ui/runs/{runId}")
@_guarded
async def _run(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["runId"]
    run = await request.app[STORE_KEY].get_run(run_id, include_items=True)
    if run is None:
        return _not_found(request, f"run {run_id}")
    damage: str | None = None
    try:
        view = run_view(_summary_of(run), run.items)
    except Exception as exc:  # a damaged stored run: show what can be read, not a 500
        logger.warning("ui.run_unreadable", run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        damage = f"part of this stored run cannot be shown ({type(exc).__name__})"
        view = run_view({"status": str(run.status), "error": run.error}, [])
    return _page(request, "run.html", title=f"Run {run_id}", run=view, run_id=run_id, damage=damage)


def _summary_of(run: Run) -> dict[str, Any]:
    """The stored run in the JSON summary's shape, which the run page reads."""
    converter = default_converter()
    duration = (
        (run.finished_at - run.started_at).total_seconds() * 1000
        if run.finished_at and run.started_at
        else None
    )
    return {
        "status": str(run.status),
        "stopped": run.status is RunStatus.STOPPED,
        "suiteId": run.suite_id,
        "totals": {
            "passed": run.totals.passed,
            "failed": run.totals.failed,
            "errors": run.totals.errors,
            "skipped": run.totals.skipped,
            "total": run.totals.total,
        },
        "passRate": run.totals.pass_rate if run.totals.total else None,
        "judge": converter.unstructure(run.judge),
        "usage": converter.unstructure(run.usage),
        "durationMs": duration,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "gitContext": run.git_context,
        "warnings": [run.error] if run.error else [],
    }


@routes.route("*", "/ui/{tail:.*}")
@_guarded
async def _unknown(request: web.Request) -> web.StreamResponse:
    return _not_found(request, "this page")
