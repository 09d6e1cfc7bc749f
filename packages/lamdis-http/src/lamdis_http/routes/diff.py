"""``GET /internal/runs/{runId}/diff?base=<runId>|last-passed``: what changed since a baseline.

The same content as ``lamdis diff --json`` (:func:`lamdis_core.diff.diff_to_json`), for the
UI's compare page and pull request comments. ``last-passed`` is the newest passed run of the
same suite and environment that is not this run (and started before it, when both say when).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from lamdis_core.diff import RunSide, diff_runs, diff_to_json
from lamdis_core.domain.results import Run, RunStatus
from lamdis_core.ports.store import RunFilter, RunStore

from lamdis_http import _problems as p
from lamdis_http._problems import ProblemError
from lamdis_http.app import STORE_KEY, json_response

routes = web.RouteTableDef()

LAST_PASSED = "last-passed"
_SEARCH_LIMIT = 200


@routes.get("/internal/runs/{runId}/diff")
async def diff_run(request: web.Request) -> web.Response:
    query = request.query
    unknown = sorted(set(query) - {"base"})
    if unknown:
        p.invalid([p.FieldIssue(n, "unknown query parameter; expected base") for n in unknown])
    base_ref = query.get("base", "").strip()
    if not base_ref or len(base_ref) > 256:
        p.invalid(
            [p.FieldIssue("base", f"expected a run id or {LAST_PASSED!r} (1 to 256 characters)")]
        )
    store = request.app[STORE_KEY]
    run_id = request.match_info["runId"]
    run = await store.get_run(run_id, include_items=True)
    if run is None:
        raise ProblemError(404, f"unknown run {run_id!r}")
    if base_ref == LAST_PASSED:
        base = await last_passed(store, run)
        if base is None:
            raise ProblemError(
                404,
                f"no passed run of suite {run.suite_id!r} in environment {run.env_id!r} to "
                f"compare run {run_id!r} with",
            )
    else:
        base = await store.get_run(base_ref, include_items=True)
        if base is None:
            raise ProblemError(404, f"unknown base run {base_ref!r}")
    diff = diff_runs(run_side(base), run_side(run))
    body: dict[str, Any] = diff_to_json(diff)
    body["baseRunId"], body["runId"] = base.id, run.id
    return json_response(body)


async def last_passed(store: RunStore, run: Run) -> Run | None:
    """The newest passed run of ``run``'s suite and environment before it, with its items."""
    return await previous_run(store, run, status=RunStatus.PASSED)


async def previous_run(store: RunStore, run: Run, *, status: RunStatus | None = None) -> Run | None:
    """The newest run of ``run``'s suite and environment before it (of ``status``, when
    given), with its items; ``None`` when none is among the suite's newest 200 runs."""
    candidates = await store.list_runs(
        RunFilter(org_id=run.org_id, suite_id=run.suite_id, status=status, limit=_SEARCH_LIMIT)
    )
    for candidate in candidates:  # newest first
        if candidate.id == run.id or candidate.env_id != run.env_id:
            continue
        if run.created_at and candidate.created_at and candidate.created_at > run.created_at:
            continue
        assert candidate.id is not None
        return await store.get_run(candidate.id, include_items=True)
    return None


def run_side(run: Run) -> RunSide:
    """A stored run as one side of a diff."""
    return RunSide(
        label=run.id or "",
        items=list(run.items),
        suite_id=run.suite_id,
        status=run.status.value,
    )


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/internal/runs/{runId}/diff": {
        "get": {
            "summary": "What changed since a baseline run: newly failing or passing tests, "
            "judge score drops (> 0.1), p95 latency regressions (> 20%), first divergent turn",
            "parameters": [
                {
                    "name": "runId",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 256},
                },
                {
                    "name": "base",
                    "in": "query",
                    "required": True,
                    "description": "A run id, or last-passed: the newest passed run of the "
                    "same suite and environment",
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 256,
                        "pattern": "\\S",
                    },
                },
            ],
            "responses": {
                "200": {
                    "description": "The diff",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["base", "new", "regression", "counts", "tests"],
                                "properties": {
                                    "base": {"type": "string"},
                                    "new": {"type": "string"},
                                    "baseRunId": {"type": "string"},
                                    "runId": {"type": "string"},
                                    "regression": {"type": "boolean"},
                                    "margins": {"type": "object"},
                                    "counts": {"type": "object"},
                                    "notes": {"type": "array", "items": {"type": "string"}},
                                    "added": {"type": "array", "items": {"type": "string"}},
                                    "removed": {"type": "array", "items": {"type": "string"}},
                                    "tests": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        }
                    },
                },
                "404": {
                    "description": "Unknown run or base run, or no passed run to compare with",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            },
        }
    }
}
"""The route's OpenAPI description, merged into ``/openapi.json``."""
