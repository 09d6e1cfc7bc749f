"""The hosted UI at ``/ui/``: the runs list and the run page, server-rendered with the HTML
report's templates.

Auth follows the API's: without ``LAMDIS_API_TOKEN`` the service listens on loopback only and
the UI asks for nothing. With a token, a login form takes it (in the body, never in a URL) and
sets a signed, expiring, HttpOnly, SameSite=Strict session cookie; changing the token ends
every session. Every page forbids framing and anything not served by the service itself
(``Content-Security-Policy: default-src 'self'``): the pages carry no inline script or style.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.results import Run, RunStatus, Totals, Trigger, average_score
from lamdis_core.logs import get_logger
from lamdis_core.ports.store import ItemPage, RunCursor
from lamdis_core.service import (
    InvalidQueryError,
    RunPage,
    RunQueryNames,
    encode_cursor,
    parse_run_query,
)
from lamdis_core.service.errors import UnknownRunError

from lamdis_http.app import SERVICE_KEY, SETTINGS_KEY
from lamdis_http.ui import environment, item_view, run_view, stylesheet
from lamdis_http.ui._items import paged_run_view, read_page
from lamdis_http.ui.live import RunFeeds, WebhookWait, awaits_webhook

logger = get_logger()

PREFIX = "/ui/"
COOKIE = "lamdis_session"
SESSION_SECONDS = 12 * 3600
PAGE_SIZE = 25
HEARTBEAT_SECONDS = 15.0
"""A comment line on an idle event stream: proxies keep it open, a gone viewer is noticed."""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

FEEDS_KEY: web.AppKey[RunFeeds] = web.AppKey("lamdis.ui.feeds")
FORM_KEY: web.AppKey[bytes] = web.AppKey("lamdis.ui.form_key")

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_ui(app: web.Application, *pages: web.RouteTableDef) -> None:
    """Serve the UI; ``pages`` are more route tables (the suite and compare pages, which build
    on this module, so it cannot import them without a cycle)."""
    # Before this module's routes: their catch-all answers every other /ui/ path with a 404.
    for table in pages:
        app.router.add_routes(table)
    app.router.add_routes(routes)
    app[FEEDS_KEY] = RunFeeds(lambda: app[SERVICE_KEY], _live_render)
    # Signs the Stop form when there is no API token (loopback): a page of another site
    # cannot read it, so it cannot post the form.
    app[FORM_KEY] = secrets.token_bytes(32)

    async def end_streams(app: web.Application) -> None:
        await app[FEEDS_KEY].close()

    app.on_shutdown.append(end_streams)


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


def _form_token(request: web.Request) -> str:
    """The CSRF token of this viewer's forms: bound to the session with an API token, to
    this process's secret without one."""
    token = _token(request)
    session = request.cookies.get(COOKIE)
    if token is None:
        return _sign(request.app[FORM_KEY], "csrf.loopback")
    return csrf_token(token, session) if session else ""


def _form_token_ok(request: web.Request, given: object) -> bool:
    expected = _form_token(request)
    return (
        bool(expected)
        and isinstance(given, str)
        and hmac.compare_digest(given.encode("ascii", "replace"), expected.encode())
    )


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
        _templates()
        .get_template(template)
        .render(
            auth=signed_in, csrf=_form_token(request) if signed_in or not token else "", **context
        )
    )
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


_templates = functools.cache(environment)
"""One template environment for the service: templates compile once, not per page."""


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


_STATIC = {"lamdis.css": "text/css", "live.js": "text/javascript"}


@functools.cache
def _static_text(name: str) -> str:
    if name == "lamdis.css":
        return stylesheet()
    return resources.files("lamdis_http.ui").joinpath(f"static/{name}").read_text("utf-8")


@routes.get("/ui/static/{name}")
async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _STATIC:
        return _not_found(request, "such file")
    response = web.Response(text=_static_text(name), content_type=_STATIC[name], charset="utf-8")
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


UI_NAMES = RunQueryNames(org="org", suite="suite", env="env", limit=None, offset=None, lenient=True)
"""The runs page's parameters: short names in its links, a fixed page size, and a form's
empty fields meaning "any"."""

_FILTERS = tuple(n for n in UI_NAMES.accepted() if n not in (UI_NAMES.before, UI_NAMES.after))
"""The filters the page's form and links carry (not the page position)."""


@routes.get("/ui/")
@_guarded
async def _runs(request: web.Request) -> web.StreamResponse:
    query = request.query
    filters = {name: query.get(name, "").strip() for name in _FILTERS}
    problems: list[str] = []
    page = RunPage(runs=[])
    try:
        page = await request.app[SERVICE_KEY].page(
            parse_run_query(query, UI_NAMES, default_limit=PAGE_SIZE)
        )
    except InvalidQueryError as exc:
        problems = [issue.message for issue in exc.issues]
    positioned = bool(query.get("before", "").strip() or query.get("after", "").strip())
    return _page(
        request,
        "runs.html",
        status=400 if problems else 200,
        title="Runs",
        rows=[_row(run) for run in page.runs],
        filters=filters,
        statuses=[s.value for s in RunStatus],
        triggers=[t.value for t in Trigger],
        problems=problems,
        newest=_page_query(filters) if positioned else None,
        newer=_page_query(filters, after=page.newer) if page.newer else None,
        older=_page_query(filters, before=page.older) if page.older else None,
    )


def _page_query(
    filters: Mapping[str, str], *, before: RunCursor | None = None, after: RunCursor | None = None
) -> str:
    params = {k: v for k, v in filters.items() if v}
    if before is not None:
        params["before"] = encode_cursor(before)
    if after is not None:
        params["after"] = encode_cursor(after)
    return "?" + urlencode(params) if params else ""


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _row(run: Run) -> dict[str, Any]:
    git = run.git_context if isinstance(run.git_context, dict) else {}
    sha = git.get("sha") if git.get("sha") is not None else git.get("commit")
    duration = (
        (run.finished_at - run.started_at).total_seconds() * 1000
        if run.finished_at and run.started_at
        else None
    )
    branch = git.get("branch")
    return {
        "id": run.id,
        "created_at": _utc(run.created_at).strftime("%Y-%m-%d %H:%M:%S") if run.created_at else "",
        "status": str(run.status),
        "org": run.org_id or "",
        "suite": run.suite_id or "",
        "env": run.env_id or "",
        "trigger": str(run.trigger),
        "totals": run.totals,
        "pass_rate": run.totals.pass_rate if run.totals.total else None,
        "judge_avg": run.judge.avg_score,
        "duration_ms": duration,
        "commit": sha[:12] if isinstance(sha, str) else "",
        "branch": branch if isinstance(branch, str) else "",
    }


@routes.get("/ui/runs/{runId}")
@_guarded
async def _run(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["runId"]
    service = request.app[SERVICE_KEY]
    raw_page = request.query.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and len(raw_page) < 8 else 1
    items: ItemPage | None = None
    try:
        # The header's figures are the run's own (stored when it ended): a finished run's
        # page reads its row and the shown page of items, never every item.
        run = await service.get(run_id, include_items=False)
        wait = request.app[FEEDS_KEY].webhook_wait_seconds
        if run.status.is_final and not awaits_webhook(run, service.clock.now(), wait):
            items = await read_page(service, run_id, page)
        else:  # live: the events append every new item to what is shown, so show them all
            run = await service.get(run_id)
    except UnknownRunError:
        return _not_found(request, f"run {run_id}")
    damage: str | None = None
    try:
        if items is not None:
            view = paged_run_view(_summary_of(run), items, run_id=run_id)
        else:
            view = run_view(_summary_of(run), run.items)
    except Exception as exc:  # a damaged stored run: show what can be read, not a 500
        logger.warning("ui.run_unreadable", run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        damage = f"part of this stored run cannot be shown ({type(exc).__name__})"
        view = run_view({"status": str(run.status), "error": run.error}, [])
    return _page(
        request,
        "run.html",
        title=f"Run {run_id}",
        run=view,
        run_id=run_id,
        damage=damage,
        live=items is None and damage is None,
    )


@routes.post("/ui/runs/{runId}/stop")
@_guarded
async def _stop(request: web.Request) -> web.StreamResponse:
    run_id = request.match_info["runId"]
    form = await request.post()
    if not _form_token_ok(request, form.get("csrf")):
        logger.warning("ui.stop_refused", run_id=run_id, reason="form token")
        return _page(request, "not_found.html", status=403, what="this form", title="Refused")
    try:
        run = await request.app[SERVICE_KEY].stop(run_id)
    except UnknownRunError:
        return _not_found(request, f"run {run_id}")
    logger.info("ui.stop", run_id=run_id, status=str(run.status))
    request.app[FEEDS_KEY].poke(run_id)
    return _redirect(f"/ui/runs/{quote(run_id, safe='')}")


@routes.get("/ui/runs/{runId}/events")
@_guarded
async def _events(request: web.Request) -> web.StreamResponse:
    """The run's changes as server-sent events, until it is over (final, and its webhook's
    outcome recorded or given up on: see :mod:`lamdis_http.ui.live`).

    ``run`` events carry the re-rendered header and the items the viewer lacks; ``final``
    the last of them; ``gone`` a run that no longer exists. Each event's id is
    ``<attempt>:<items sent>``, so a reconnecting browser (``Last-Event-ID``) gets only what
    it missed. An event with ``reset`` replaces every item shown: the run was re-queued by
    recovery and started over, with fewer items than the viewer has, or a new attempt.
    """
    run_id = request.match_info["runId"]
    try:
        await request.app[SERVICE_KEY].get(run_id, include_items=False)
    except UnknownRunError:
        return _not_found(request, f"run {run_id}")
    attempt, shown = _position(request.headers.get("Last-Event-ID"))
    if not shown:
        shown = _count(request.query.get("items"))
        attempt = _count(request.query.get("attempt")) if request.query.get("attempt") else None
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    try:
        async with request.app[FEEDS_KEY].subscribe(run_id) as viewer:
            while not viewer.ended:
                snapshot = await viewer.next(timeout=HEARTBEAT_SECONDS)
                if snapshot is None:
                    await response.write(b": still here\n\n")
                    continue
                if snapshot.header.get("gone"):
                    await response.write(b"event: gone\ndata: {}\n\n")
                    break
                if snapshot.interrupted:
                    break  # store trouble, shutdown: the browser reconnects by itself
                reset = len(snapshot.items) < shown or attempt not in (None, snapshot.attempt)
                if reset:
                    shown = 0
                attempt = snapshot.attempt
                update: dict[str, Any] = {
                    "items": [{"row": r, "detail": d} for r, d in snapshot.items[shown:]],
                    "reset": reset,
                    **{k: v for k, v in snapshot.header.items() if k != "gone"},
                }
                shown = len(snapshot.items)
                event = "final" if snapshot.final else "run"
                data = json.dumps(update, separators=(",", ":"))
                await response.write(
                    f"id: {attempt}:{shown}\nevent: {event}\ndata: {data}\n\n".encode()
                )
    except ConnectionResetError:
        pass  # the viewer left
    return response


def _count(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 10 else 0


def _position(event_id: str | None) -> tuple[int | None, int]:
    """The attempt and the number of items of a ``Last-Event-ID`` (``<attempt>:<items>``;
    a bare number of items from a page served before attempts were sent)."""
    if not event_id:
        return None, 0
    attempt, colon, items = event_id.partition(":")
    if not colon:
        return None, _count(attempt)
    return (_count(attempt) if attempt.isdigit() else None), _count(items)


def _live_render(
    run: Run, first: int, webhook_wait: WebhookWait | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The live page's header and the HTML of the run's items from ``first``;
    ``webhook_wait``: the final run's webhook outcome is not recorded yet."""
    env = _templates()
    try:
        summary = _summary_of(run)
        if webhook_wait is not None:
            summary["webhookWait"] = {"state": webhook_wait.value, "url": run.webhook_url}
        view = run_view(summary, [])
        header = env.get_template("_run_header.html").render(run=view)
        items = [
            (
                env.get_template("_item_row.html").render(item=view_of),
                env.get_template("_item.html").render(item=view_of),
            )
            for view_of in (
                item_view(n, item) for n, item in enumerate(run.items[first:], start=first)
            )
        ]
    except Exception as exc:  # a damaged stored run: say so, never end the stream with a 500
        logger.warning("ui.live_unreadable", run_id=run.id, error=f"{type(exc).__name__}: {exc}")
        view = run_view(
            {"status": str(run.status), "warnings": ["part of this run cannot be shown"]}, []
        )
        return {"header": env.get_template("_run_header.html").render(run=view)}, []
    return {
        "header": header,
        "status": str(run.status),
        "over": run.status.is_final,
        "stopRequested": run.stop_requested,
    }, items


def _summary_of(run: Run) -> dict[str, Any]:
    """The stored run in the JSON summary's shape, which the run page reads."""
    converter = default_converter()
    going = not run.status.is_final
    end = run.finished_at or (datetime.now(UTC) if going else None)
    duration = (end - run.started_at).total_seconds() * 1000 if end and run.started_at else None
    totals, judge = run.totals, converter.unstructure(run.judge)
    if going and run.items:
        # A run's totals are stored when it ends; until then, the items so far tell them.
        totals = Totals.of(list(run.items))
        judge = {**judge, "avgScore": average_score(list(run.items))}
    return {
        "status": str(run.status),
        "stopped": run.status is RunStatus.STOPPED,
        "suiteId": run.suite_id,
        "totals": {
            "passed": totals.passed,
            "failed": totals.failed,
            "errors": totals.errors,
            "skipped": totals.skipped,
            "total": totals.total,
        },
        "passRate": totals.pass_rate if totals.total else None,
        "judge": judge,
        "usage": converter.unstructure(run.usage),
        "durationMs": duration,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "gitContext": run.git_context,
        "progress": converter.unstructure(run.progress) if going else None,
        "stopRequested": run.stop_requested,
        "attempts": run.attempts,
        "webhook": converter.unstructure(run.webhook) if run.webhook is not None else None,
        "warnings": [run.error] if run.error else [],
    }


@routes.route("*", "/ui/{tail:.*}")
@_guarded
async def _unknown(request: web.Request) -> web.StreamResponse:
    return _not_found(request, "this page")
