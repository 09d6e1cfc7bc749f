"""``GET /internal/runs/{runId}/diff?base=<runId>|last-passed``: what changed since a baseline.

The same content as ``lamdis diff --json`` (:func:`lamdis_core.diff.diff_to_json`), for the
UI's compare page and pull request comments. ``last-passed`` is the newest passed run of the
same suite and environment that is not this run (and started before it, when both say when).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from lamdis_core.diff import diff_to_json
from lamdis_core.service import LAST_PASSED, previous_run, run_side

from lamdis_http import _problems as p
from lamdis_http.app import SERVICE_KEY, json_response

routes = web.RouteTableDef()

# The UI's history pages read these from here.
__all__ = ["LAST_PASSED", "OPENAPI_PATHS", "previous_run", "routes", "run_side"]


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
    base, run, diff = await request.app[SERVICE_KEY].compare(request.match_info["runId"], base_ref)
    body: dict[str, Any] = diff_to_json(diff)
    body["baseRunId"], body["runId"] = base.id, run.id
    return json_response(body)


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
