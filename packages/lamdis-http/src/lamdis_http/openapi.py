"""``GET /openapi.json``: an OpenAPI 3.1 description of every route of the hosted API.

The document is written by hand next to the routes (a test fails when a route is missing
from it, or when it documents a route that does not exist).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from lamdis_http.app import json_response

routes = web.RouteTableDef()

CATALOG_KINDS = ("suites", "tests", "environments", "personas", "requests")

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_COMMON_ERRORS = {
    "400": _problem("Invalid body or query; `field` names what to fix"),
    "401": _problem("Missing or bad token, signature or timestamp"),
    "413": _problem("Body over 1 MiB"),
    "415": _problem("A compressed body (Content-Encoding) on a signed request"),
}

_NAME = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "\\S"}
"""An id or name: not empty or blank, at most 256 characters."""

_PATH = {**_NAME, "maxLength": 1024}
"""A file path or suite name of run-file and JSON mode: at most 1,024 characters."""

_NAME_OR_EMPTY = {"type": ["string", "null"], "maxLength": 256}

_DAY = {
    "type": "string",
    "format": "date",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "description": "A UTC day, YYYY-MM-DD; `to` includes its whole day",
}

_CURSOR = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]+$",
    "maxLength": 256,
    "description": "A `nextCursor` (as `before`) or `prevCursor` (as `after`) of an earlier "
    "answer; not together, nor with `offset`",
}

_TRIGGER = {"type": "string", "enum": ["manual", "schedule", "ci"], "default": "ci"}

_RUN_START_FIELDS = {
    "gitContext": {
        "type": ["object", "null"],
        "description": "Passed through to the run and the webhook; at most 32 levels deep and "
        "16 KiB as JSON",
    },
    "webhookUrl": {"type": ["string", "null"], "pattern": "^https?://.{3,}", "maxLength": 4096},
}

_CONTENT_NOTE = (
    " Everywhere in a body: NaN, Infinity, numbers out of range, integers over 4,300 digits, "
    "NUL characters, lone surrogates and nesting deeper than 64 levels are refused with 400."
)


def _param(
    name: str, where: str = "path", *, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema or {"type": "string", "maxLength": 256},
    }
    if where == "path" and schema is None:
        param["schema"] = {"type": "string", "minLength": 1, "maxLength": 256}
        param["description"] = "Not empty (an empty id matches no route: 404)"
    return param


def _operations() -> dict[str, dict[str, Any]]:
    queued = _json(
        "Queued",
        {
            "type": "object",
            "properties": {"runId": {"type": "string"}, "status": {"const": "queued"}},
        },
    )
    paths: dict[str, dict[str, Any]] = {
        "/health": {
            "get": {
                "summary": "Liveness, store and judge in use (no auth)",
                "security": [],
                "responses": {"200": _json("OK", {"type": "object"})},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
            }
        },
        "/internal/runs/start": {
            "post": {
                "summary": "Queue a run of a stored suite; answers at once",
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["suiteId"],
                        "properties": {
                            "suiteId": _NAME,
                            "envId": {
                                **_NAME_OR_EMPTY,
                                "description": "Default (also when empty): the suite's "
                                "environments",
                            },
                            "orgId": {
                                **_NAME_OR_EMPTY,
                                "description": "Default (also when empty): the suite's "
                                "organization",
                            },
                            "tests": {
                                "type": ["array", "null"],
                                "items": _NAME,
                                "description": "Only these test ids or test document ids; an "
                                "id the suite does not hold is a 404",
                            },
                            "trigger": _TRIGGER,
                            "seed": {
                                "type": ["integer", "null"],
                                "minimum": 0,
                                "maximum": 2**63 - 1,
                                "description": "Seed for the data generators in test variables "
                                "(a stored run shows the one it used as `seed`, so giving it "
                                "again repeats its values). Default: one is picked",
                            },
                            **_RUN_START_FIELDS,
                        },
                    }
                ),
                "responses": {
                    "202": queued,
                    "404": _problem("Unknown suite, environment or test id"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/internal/runs/{runId}/stop": {
            "post": {
                "summary": "Stop a run cooperatively (within one turn); a queued run stops at once",
                "parameters": [_param("runId")],
                "responses": {
                    "200": _json("Stop recorded", {"type": "object"}),
                    "404": _problem("Unknown run"),
                    "401": _COMMON_ERRORS["401"],
                },
            }
        },
        "/internal/runs/{runId}": {
            "get": {
                "summary": "One run with its items (camelCase; the results model)",
                "parameters": [_param("runId")],
                "responses": {
                    "200": _json("The run", {"$ref": "#/components/schemas/Run"}),
                    "404": _problem("Unknown run"),
                    "401": _COMMON_ERRORS["401"],
                },
            }
        },
        "/internal/runs": {
            "get": {
                "summary": "Runs, newest first, without items, paged by cursor",
                "description": "Every filter is optional and they combine. `nextCursor` in the "
                "answer, given as `before`, reads the next (older) page; `prevCursor`, given as "
                "`after`, the previous (newer) one; each is null at its end. The `Link` header "
                'carries the same pages as URLs (`rel="next"`, `rel="prev"`). Cursors are '
                "opaque: pass them back unchanged.",
                "parameters": [
                    _param("orgId", "query"),
                    _param("suiteId", "query"),
                    _param("envId", "query"),
                    _param(
                        "status",
                        "query",
                        schema={
                            "type": "string",
                            "enum": ["queued", "running", "passed", "failed", "partial", "stopped"],
                        },
                    ),
                    _param("trigger", "query", schema={"type": "string", "enum": _TRIGGER["enum"]}),
                    _param("branch", "query"),
                    _param(
                        "commit",
                        "query",
                        schema={"type": "string", "pattern": "^[0-9A-Fa-f]+$", "maxLength": 256},
                    ),
                    _param("from", "query", schema=_DAY),
                    _param("to", "query", schema=_DAY),
                    _param("before", "query", schema=_CURSOR),
                    _param("after", "query", schema=_CURSOR),
                    _param(
                        "limit",
                        "query",
                        schema={"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
                    ),
                    _param(
                        "offset",
                        "query",
                        schema={"type": "integer", "minimum": 0, "default": 0},
                    ),
                ],
                "responses": {
                    "200": {
                        **_json(
                            "A page of runs",
                            {
                                "type": "object",
                                "required": ["runs", "nextCursor", "prevCursor"],
                                "properties": {
                                    "runs": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Run"},
                                    },
                                    "nextCursor": {"type": ["string", "null"]},
                                    "prevCursor": {"type": ["string", "null"]},
                                },
                            },
                        ),
                        "headers": {
                            "Link": {
                                "description": 'The next and previous pages (`rel="next"`, '
                                '`rel="prev"`) with the same filters; absent when there are none',
                                "schema": {"type": "string"},
                            }
                        },
                    },
                    "400": _COMMON_ERRORS["400"],
                    "401": _COMMON_ERRORS["401"],
                },
            }
        },
        "/internal/run-file": {
            "post": {
                "summary": "Run one test file from the config root (lamdis-runs compatible)",
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["filePath"],
                        "properties": {
                            "filePath": _PATH,
                            "cwd": {**_PATH, "type": ["string", "null"]},
                            "orgId": {**_NAME, "type": ["string", "null"]},
                            "wait": {"type": ["boolean", "null"], "default": True},
                            "trigger": {**_TRIGGER, "type": ["string", "null"]},
                            **_RUN_START_FIELDS,
                        },
                    }
                ),
                "responses": {
                    "200": _json(
                        "Finished: file, totals, passRate, judge, items", {"type": "object"}
                    ),
                    "202": queued,
                    "403": _problem("Path outside the config root"),
                    "404": _problem("No such file"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/internal/run-json-suites": {
            "post": {
                "summary": "Run suite files from the config root (JSON mode, lamdis-runs compatible)",
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["suites"],
                        "properties": {
                            "mode": {"enum": ["json", None]},
                            "suites": {"type": "array", "items": _PATH, "minItems": 1},
                            "orgId": {**_NAME, "type": ["string", "null"]},
                            "wait": {"type": ["boolean", "null"], "default": True},
                            "trigger": {**_TRIGGER, "type": ["string", "null"]},
                            **_RUN_START_FIELDS,
                        },
                    }
                ),
                "responses": {
                    "200": _json(
                        "Finished: mode, status, passRate, totals, suites[]", {"type": "object"}
                    ),
                    "202": queued,
                    "403": _problem("Path outside the config root"),
                    "404": _problem("No such suite file"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/orgs/{orgId}/judge": {
            "post": {
                "summary": "Judge a conversation with the configured judge (lamdis-runs shapes)",
                "parameters": [_param("orgId")],
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["rubric"],
                        "properties": {
                            "rubric": {"type": "string", "minLength": 1, "pattern": "\\S"},
                            "threshold": {
                                "type": ["number", "null"],
                                "minimum": 0,
                                "maximum": 1,
                                "default": 0.75,
                            },
                            "transcript": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["role", "content"],
                                    "properties": {
                                        "role": {"type": "string"},
                                        "content": {"type": "string"},
                                    },
                                },
                            },
                            "lastAssistant": {"type": ["string", "null"]},
                            "requestNext": {"type": ["boolean", "null"]},
                            "persona": {"type": ["string", "null"]},
                            "objective": {"type": ["string", "null"]},
                            "scope": {
                                "enum": ["last", "transcript", None],
                                "default": "last",
                            },
                        },
                    }
                ),
                "responses": {
                    "200": _json(
                        "Verdict",
                        {
                            "type": "object",
                            "required": ["pass", "score", "threshold", "reasoning"],
                            "properties": {
                                "pass": {"type": "boolean"},
                                "score": {"type": "number"},
                                "threshold": {"type": "number"},
                                "reasoning": {"type": "string"},
                                "nextUser": {"type": "string"},
                                "shouldContinue": {"type": "boolean"},
                                "model": {"type": "string"},
                            },
                        },
                    ),
                    "502": _problem("The judge could not judge (never reported as a pass)"),
                    "508": _problem("Forwarded by an external judge to an external judge (loop)"),
                    **_COMMON_ERRORS,
                },
            }
        },
    }
    for kind in CATALOG_KINDS:
        doc = {"$ref": "#/components/schemas/Document"}
        put_doc = {"$ref": "#/components/schemas/DocumentBody"}
        org = _param("orgId")
        doc_id = _param("docId")
        paths[f"/orgs/{{orgId}}/{kind}"] = {
            "get": {
                "summary": f"List {kind}",
                "parameters": [
                    org,
                    _param(
                        "limit",
                        "query",
                        schema={"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
                    ),
                ],
                "responses": {
                    "200": _json(
                        "Documents",
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": doc}},
                        },
                    ),
                    "400": _problem("Bad limit (an integer from 1 to 5000)"),
                    "401": _COMMON_ERRORS["401"],
                },
            },
            "post": {
                "summary": f"Create one of {kind} (409 if the id exists)",
                "parameters": [org],
                "requestBody": _body(doc),
                "responses": {
                    "201": _json("Stored", doc),
                    "409": _problem("Id already exists"),
                    **_COMMON_ERRORS,
                },
            },
        }
        paths[f"/orgs/{{orgId}}/{kind}/{{docId}}"] = {
            "get": {
                "summary": f"Read one of {kind}",
                "parameters": [org, doc_id],
                "responses": {
                    "200": _json("The document", doc),
                    "404": _problem("Unknown id"),
                    "401": _COMMON_ERRORS["401"],
                },
            },
            "put": {
                "summary": f"Create or replace one of {kind}",
                "description": "The id comes from the path; an `id` in the body must match "
                "it. A body with nothing but an id (`{}`) is refused with 400.",
                "parameters": [org, doc_id],
                "requestBody": _body(put_doc),
                "responses": {"200": _json("Stored", doc), **_COMMON_ERRORS},
            },
            "patch": {
                "summary": f"Change fields of one of {kind} (JSON merge patch)",
                "description": "Objects merge key by key and `null` removes a key; the result "
                "is checked like a PUT body. On a suite, setting `schedule` "
                "(`{enabled, periodMinutes | cron, envId?, webhookUrl?}`) makes the service "
                "start the suite when due, with trigger `schedule`; its `nextRunAt` is set from "
                "now unless the patch gives one.",
                "parameters": [org, doc_id],
                "requestBody": _body({"type": "object"}),
                "responses": {
                    "200": _json("Stored", doc),
                    "404": _problem("Unknown id"),
                    **_COMMON_ERRORS,
                },
            },
            "delete": {
                "summary": f"Delete one of {kind}",
                "parameters": [org, doc_id],
                "responses": {
                    "204": {"description": "Deleted"},
                    "404": _problem("Unknown id"),
                    "401": _COMMON_ERRORS["401"],
                },
            },
        }
    # Routes that live in their own module describe themselves there.
    from lamdis_http.routes import diff

    paths.update(copy.deepcopy(diff.OPENAPI_PATHS))
    for operations in paths.values():
        for operation in operations.values():
            # Any parameter can be refused (NUL, over 256 characters, a request line over
            # 8 KiB), and every route but /health needs the token.
            operation["responses"].setdefault(
                "400", _problem("Bad parameter or body; `field` names what to fix")
            )
            if operation.get("security") != []:
                operation["responses"].setdefault("401", _COMMON_ERRORS["401"])
    return paths


def spec() -> dict[str, Any]:
    """The OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lamdis hosted API",
            "version": "1",
            "description": "Runs conversational tests in the background; lamdis-runs compatible."
            + _CONTENT_NOTE,
        },
        "security": [{"apiToken": []}, {"bearer": []}],
        "components": {
            "securitySchemes": {
                "apiToken": {"type": "apiKey", "in": "header", "name": "x-api-token"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "field": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Run": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "orgId": {"type": "string"},
                        "suiteId": {"type": "string"},
                        "envId": {"type": "string"},
                        "trigger": {"type": "string", "enum": ["manual", "schedule", "ci"]},
                        "gitContext": {"type": "object"},
                        "status": {
                            "type": "string",
                            "enum": ["queued", "running", "passed", "failed", "partial", "stopped"],
                        },
                        "startedAt": {"type": "string", "format": "date-time"},
                        "finishedAt": {"type": "string", "format": "date-time"},
                        "totals": {"type": "object"},
                        "judge": {"type": "object"},
                        "usage": {"type": "object"},
                        "progress": {"type": "object"},
                        "items": {"type": "array", "items": {"type": "object"}},
                        "error": {"type": "string"},
                        "webhook": {"type": "object"},
                    },
                },
                "Document": {
                    "type": "object",
                    "required": ["id"],
                    "minProperties": 2,
                    "description": "A config file's content as JSON, with a string id and at "
                    "least one other field",
                    "properties": {"id": _NAME},
                },
                "DocumentBody": {
                    "type": "object",
                    "description": "A config file's content as JSON; its id comes from the path",
                    "minProperties": 1,
                    "properties": {"id": _NAME},
                    "not": {"required": ["id"], "maxProperties": 1},
                },
            },
        },
        "paths": _operations(),
    }


_KIND_GROUP = re.compile(r"\(\?P<kind>([^)]+)\)")


def route_paths(app: web.Application) -> Iterator[tuple[str, str]]:
    """Every (method, OpenAPI path) the app serves; ``{kind}`` expands to each catalog kind.
    The HTML pages under ``/ui/`` are not part of the API and are left out."""
    from lamdis_http._auth import is_ui_path

    for route in app.router.routes():
        method = route.method.lower()
        if method in ("head", "*"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if not template or is_ui_path(template):
            continue
        variants = [template]
        if "{kind}" in template:
            match = _KIND_GROUP.search(info["pattern"].pattern)
            kinds = match.group(1).split("|") if match else []
            variants = [template.replace("{kind}", kind) for kind in kinds]
        for variant in variants:
            yield method, variant


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(spec())
