"""Runs: start, stop, read one, list recent (``/internal/runs``)."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from lamdis_core.config.loader import CatalogDocuments, suite_test_ids
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.ports.store import RunFilter

from lamdis_http import _problems as p
from lamdis_http._problems import ProblemError
from lamdis_http._session import redact_url
from lamdis_http.app import CATALOG_KEY, CLOCK_KEY, STORE_KEY, WORKER_KEY, json_response

logger = structlog.get_logger()

routes = web.RouteTableDef()

TRIGGERS = [t.value for t in Trigger]
MAX_LIST_LIMIT = 200
MAX_SEED = 2**63 - 1
"""A start's ``seed`` fits PostgreSQL's bigint, like ``lamdis run --seed``."""


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
    catalog = request.app[CATALOG_KEY]
    org_id: str | None = body.get("orgId") or None
    suite_id: str = body["suiteId"]
    suite = await catalog.get(CatalogKind.SUITES, org_id, suite_id)
    if suite is None:
        where = f" in organization {org_id!r}" if org_id else ""
        raise ProblemError(404, f"unknown suite {suite_id!r}{where}", field="suiteId")
    org_id = org_id or str(suite.get("orgId"))
    env_id: str | None = body.get("envId") or None
    if env_id is not None and await catalog.get(CatalogKind.ENVIRONMENTS, org_id, env_id) is None:
        raise ProblemError(
            404, f"unknown environment {env_id!r} in organization {org_id!r}", field="envId"
        )
    tests: list[str] = body.get("tests") or []
    if tests:
        source = CatalogDocuments(catalog, org_id)
        known = await suite_test_ids(suite, source)
        unknown = [t for t in dict.fromkeys(tests) if t not in known]
        if unknown:
            listed = ", ".join(sorted(known)[:20]) or "none"
            raise ProblemError(
                404,
                f"unknown test id(s) {', '.join(map(repr, unknown))} in suite {suite_id!r}; "
                f"the suite's tests: {listed}",
                field="tests",
            )
    run = Run(
        org_id=org_id,
        suite_id=suite_id,
        env_id=env_id,
        trigger=Trigger(body.get("trigger") or Trigger.CI),
        git_context=body.get("gitContext") or {},
        status=RunStatus.QUEUED,
        webhook_url=body.get("webhookUrl"),
        request={"kind": "suite", "tests": tests},
        seed=body.get("seed"),
    )
    created = await request.app[STORE_KEY].create_run(run)
    worker = request.app.get(WORKER_KEY)
    if worker is not None:
        worker.wake()
    return json_response({"runId": created.id, "status": "queued"}, status=202)


@routes.post("/internal/runs/{runId}/stop")
async def stop_run(request: web.Request) -> web.Response:
    run_id = request.match_info["runId"]
    now = request.app[CLOCK_KEY].now()
    run = await request.app[STORE_KEY].request_stop(run_id, now=now)
    if run is None:
        raise ProblemError(404, f"unknown run {run_id!r}")
    worker = request.app.get(WORKER_KEY)
    if worker is not None:
        # Same instance: stop now rather than at the next poll; other instances poll the store.
        worker.signal_stop(run_id)
        if run.status is RunStatus.STOPPED and run.started_at is None:
            worker.notify_stopped_while_queued(run, stopped_at=now)
    return json_response(
        {"runId": run.id, "status": str(run.status), "stopRequested": run.stop_requested}
    )


@routes.get("/internal/runs/{runId}")
async def get_run(request: web.Request) -> web.Response:
    run_id = request.match_info["runId"]
    run = await request.app[STORE_KEY].get_run(run_id, include_items=True)
    if run is None:
        raise ProblemError(404, f"unknown run {run_id!r}")
    return json_response(run_to_json(run))


@routes.get("/internal/runs")
async def list_runs(request: web.Request) -> web.Response:
    query = request.query
    unknown = sorted(set(query) - {"orgId", "suiteId", "status", "limit"})
    if unknown:
        p.invalid(
            [
                p.FieldIssue(
                    name, "unknown query parameter; expected orgId, suiteId, status, limit"
                )
                for name in unknown
            ]
        )
    status: RunStatus | None = None
    if "status" in query:
        try:
            status = RunStatus(query["status"])
        except ValueError:
            p.invalid(
                [p.FieldIssue("status", f"expected one of {', '.join(s.value for s in RunStatus)}")]
            )
    limit = 20
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIST_LIMIT:
            p.invalid([p.FieldIssue("limit", f"expected an integer from 1 to {MAX_LIST_LIMIT}")])
    runs = await request.app[STORE_KEY].list_runs(
        RunFilter(
            org_id=query.get("orgId") or None,
            suite_id=query.get("suiteId") or None,
            status=status,
            limit=limit,
        )
    )
    return json_response({"runs": [run_to_json(r) for r in runs]})
