"""Runs: start, stop, read one, list (``/internal/runs``, paged by opaque cursors).

The handlers check the request's shape and translate it to :class:`lamdis_core.service.RunService`
calls; the service's errors (unknown run, suite, environment or tests) become problems in the
error middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.results import Run, Trigger
from lamdis_core.logs import get_logger
from lamdis_core.masking import redact_url
from lamdis_core.ports.store import RunFilter
from lamdis_core.service import (
    API_NAMES,
    MAX_LIST_LIMIT,
    MAX_SEED,
    RunPage,
    StartRequest,
    encode_cursor,
    parse_run_query,
)
from yarl import URL

from lamdis_http import _problems as p
from lamdis_http.app import SERVICE_KEY, json_response

logger = get_logger()

routes = web.RouteTableDef()

TRIGGERS = [t.value for t in Trigger]

__all__ = ["MAX_LIST_LIMIT", "MAX_SEED", "page_to_json", "routes", "run_filter_of", "run_to_json"]


def run_to_json(run: Run) -> dict[str, Any]:
    """A run as the API shows it: camelCase, as in docs/results.md, ``None`` fields left out.

    Never fails on content: a run that cannot be shown in full (a damaged row, content stored
    before the service bounded it) is shown by its plain fields with an ``unreadable`` note,
    so reading it and listing runs go on.
    """
    try:
        return _full_json(run)
    except (RecursionError, ValueError, TypeError, AttributeError, KeyError) as exc:
        logger.warning("run.unreadable", run_id=run.id, error=f"{type(exc).__name__}: {exc}")
        return {
            "id": run.id,
            "orgId": _plain(run.org_id),
            "suiteId": _plain(run.suite_id),
            "envId": _plain(run.env_id),
            "status": str(run.status),
            "error": _plain(run.error),
            "unreadable": f"this stored run cannot be shown in full ({type(exc).__name__}); "
            "its other fields are left out",
        }


def _plain(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else repr(value)[:200]


def _full_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = default_converter().unstructure(run)
    # Webhook URLs may carry credentials (user:password@, ?token=): a reader of runs is not
    # necessarily who configured the hook.
    if isinstance(data.get("webhookUrl"), str):
        data["webhookUrl"] = redact_url(data["webhookUrl"])
    webhook = data.get("webhook")
    if isinstance(webhook, dict) and isinstance(webhook.get("url"), str):
        webhook["url"] = redact_url(webhook["url"])
    if run.status.is_final and run.totals.total:
        # Progress is written at most once a second, so its last write can lag the finish;
        # a finished run has, by definition, done everything it recorded.
        count = run.totals.total
        data["progress"] = {"done": count, "total": max(count, run.progress.total)}
    return data


@routes.post("/internal/runs/start")
async def start_run(request: web.Request) -> web.Response:
    body = await p.json_object(request, free_form=("gitContext",))
    p.validate(
        body,
        required={"suiteId": p.name()},
        optional={
            # The seed's CI example sends "envId": "" when its ENV_ID variable is unset:
            # an empty id means "not given", as it did in lamdis-runs.
            "envId": p.name(non_empty=False),
            "orgId": p.name(non_empty=False),
            "trigger": p.string(choices=TRIGGERS),
            "gitContext": p.free_object(),
            "webhookUrl": p.url(),
            "tests": p.array(p.name()),
            "seed": p.integer(minimum=0, maximum=MAX_SEED),
        },
        nullable=("envId", "orgId", "gitContext", "webhookUrl", "tests", "seed"),
    )
    created = await request.app[SERVICE_KEY].start(
        StartRequest(
            suite_id=body["suiteId"],
            org_id=body.get("orgId") or None,
            env_id=body.get("envId") or None,
            trigger=Trigger(body.get("trigger") or Trigger.CI),
            git_context=body.get("gitContext") or {},
            webhook_url=body.get("webhookUrl"),
            tests=body.get("tests") or [],
            seed=body.get("seed"),
        )
    )
    return json_response({"runId": created.id, "status": "queued"}, status=202)


@routes.post("/internal/runs/{runId}/stop")
async def stop_run(request: web.Request) -> web.Response:
    run = await request.app[SERVICE_KEY].stop(request.match_info["runId"])
    return json_response(
        {"runId": run.id, "status": str(run.status), "stopRequested": run.stop_requested}
    )


@routes.get("/internal/runs/{runId}")
async def get_run(request: web.Request) -> web.Response:
    run = await request.app[SERVICE_KEY].get(request.match_info["runId"])
    return json_response(run_to_json(run))


@routes.get("/internal/runs")
async def list_runs(request: web.Request) -> web.Response:
    page = await request.app[SERVICE_KEY].page(run_filter_of(request.query))
    response = json_response(page_to_json(page))
    links = _links(request.rel_url, page)
    if links:
        response.headers["Link"] = links
    return response


def run_filter_of(query: Mapping[str, str]) -> RunFilter:
    """The :class:`RunFilter` of ``GET /internal/runs``'s query (``lamdis runs list`` sends
    the same one to the database); a 400 names each parameter that is wrong."""
    accepted = API_NAMES.accepted()
    unknown = sorted(set(query) - set(accepted))
    if unknown:
        expected = ", ".join(accepted)
        p.invalid(
            [
                p.FieldIssue(name, f"unknown query parameter; expected {expected}")
                for name in unknown
            ]
        )
    return parse_run_query(query, API_NAMES)


def page_to_json(page: RunPage) -> dict[str, Any]:
    """A page of the runs list as the API answers it: ``nextCursor`` (older runs: pass it as
    ``before``) and ``prevCursor`` (newer runs: pass it as ``after``), ``None`` at either end."""
    return {
        "runs": [run_to_json(r) for r in page.runs],
        "nextCursor": encode_cursor(page.older) if page.older else None,
        "prevCursor": encode_cursor(page.newer) if page.newer else None,
    }


def _links(url: URL, page: RunPage) -> str:
    """The ``Link`` header: the next and previous pages with the same filters (relative to
    the request, so they hold behind a proxy that rewrites the host)."""
    params = {k: v for k, v in url.query.items() if k not in ("before", "after", "offset")}
    links = []
    for cursor, side, rel in ((page.older, "before", "next"), (page.newer, "after", "prev")):
        if cursor is not None:
            target = url.with_query({**params, side: encode_cursor(cursor)})
            links.append(f'<{target.path_qs}>; rel="{rel}"')
    return ", ".join(links)
