"""CRUD on the catalog: ``/orgs/{orgId}/{suites|tests|environments|personas|requests}[/{id}]``.

Documents are the config file formats of docs/formats.md as JSON, each with a string ``id``; they
are validated against the domain model before they are stored, so a run never meets a
malformed document. Ids may contain ``/`` (``assistants/dev/v1``).
"""

from __future__ import annotations

from typing import Any

import cattrs
from aiohttp import web
from lamdis_core.config.checks import check_document
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import camel, default_converter
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.schedule import iso_time, next_run_after, read_schedule

from lamdis_http import _problems as p
from lamdis_http._problems import ProblemError
from lamdis_http.app import CATALOG_KEY, CLOCK_KEY, json_response

routes = web.RouteTableDef()

KINDS = ("suites", "tests", "environments", "personas", "requests")
_KIND = "{kind:suites|tests|environments|personas|requests}"
_SYSTEM_FIELDS = ("orgId", "createdAt", "updatedAt", "_id")


def document_type(kind: CatalogKind, doc: dict[str, Any]) -> type[Any]:
    """The domain type a catalog document of ``kind`` must structure into."""
    if kind is CatalogKind.SUITES:
        return c.Suite
    if kind is CatalogKind.TESTS:
        return c.TestFile if isinstance(doc.get("tests"), list) else c.TestCase
    if kind is CatalogKind.ENVIRONMENTS:
        return c.Assistant
    if kind is CatalogKind.PERSONAS:
        return c.PersonasFile if isinstance(doc.get("personas"), list) else c.Persona
    return c.RequestsFile if isinstance(doc.get("requests"), list) else c.RequestDef


def validate_document(kind: CatalogKind, doc: dict[str, Any]) -> None:
    """Raise a 400 naming each field of ``doc`` that does not fit the kind's format."""
    issues: list[p.FieldIssue] = []
    if not isinstance(doc.get("id"), str) or not doc["id"].strip():
        issues.append(p.FieldIssue("id", "a non-empty string id is required"))
    elif len(doc["id"]) > p.MAX_NAME_LENGTH:
        issues.append(p.FieldIssue("id", f"is longer than {p.MAX_NAME_LENGTH} characters"))
    content = {k: v for k, v in doc.items() if k not in _SYSTEM_FIELDS}
    if not set(content) - {"id"}:
        # An empty document would be stored and then fail every run that names it.
        issues.append(
            p.FieldIssue("$", f"the document has no content; send the {kind.value[:-1]}'s fields")
        )
    cls = document_type(kind, content)
    # The loader's own checks first: the rules types cannot say (ranges, what an
    # assistant_check mode needs, generator arguments, minTurns <= maxTurns), and the
    # spellings it accepts (severity: warning).
    normalised, errors = check_document(content, cls)
    for where, message in errors:
        issues.append(p.FieldIssue(where.removeprefix("$.") or "$", message))
    if not errors:  # structuring what the checks refused would only repeat them
        issues.extend(_structure_issues(normalised, cls))
    if issues:
        p.invalid(issues)


def _structure_issues(content: Any, cls: type[Any]) -> list[p.FieldIssue]:
    try:
        default_converter().structure(content, cls)
    except cattrs.BaseValidationError as exc:
        issues = []
        for message in cattrs.transform_error(exc, path="$"):
            text, _, where = message.rpartition(" @ ")
            issues.append(
                p.FieldIssue(_camel_path(where.removeprefix("$.")) or "$", text or message)
            )
        return issues
    except (ValueError, TypeError, RecursionError) as exc:
        return [p.FieldIssue("$", str(exc) or type(exc).__name__)]
    return []


def _camel_path(path: str) -> str:
    """``tests[0].max_turns`` as the document spells it: ``tests[0].maxTurns``."""
    parts = []
    for part in path.split("."):
        name, bracket, rest = part.partition("[")
        parts.append(camel(name) + bracket + rest)
    return ".".join(parts)


def _kind(request: web.Request) -> CatalogKind:
    return CatalogKind(request.match_info["kind"])


@routes.get(f"/orgs/{{orgId}}/{_KIND}")
async def list_documents(request: web.Request) -> web.Response:
    limit = 500
    if "limit" in request.query:
        try:
            limit = int(request.query["limit"])
        except ValueError:
            limit = -1
        if not 1 <= limit <= 5000:
            p.invalid([p.FieldIssue("limit", "expected an integer from 1 to 5000")])
    docs = await request.app[CATALOG_KEY].list(
        _kind(request), request.match_info["orgId"], limit=limit
    )
    return json_response({"items": docs})


@routes.post(f"/orgs/{{orgId}}/{_KIND}")
async def create_document(request: web.Request) -> web.Response:
    kind = _kind(request)
    org_id = request.match_info["orgId"]
    doc = await p.json_object(request)
    validate_document(kind, doc)
    catalog = request.app[CATALOG_KEY]
    if await catalog.get(kind, org_id, doc["id"]) is not None:
        raise ProblemError(
            409, f"{kind.value} {doc['id']!r} already exists; PUT to replace it", field="id"
        )
    stored = await catalog.upsert(kind, org_id, _strip(doc))
    return json_response(stored, status=201)


@routes.get(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def get_document(request: web.Request) -> web.Response:
    kind = _kind(request)
    org_id, doc_id = request.match_info["orgId"], request.match_info["docId"]
    doc = await request.app[CATALOG_KEY].get(kind, org_id, doc_id)
    if doc is None:
        raise ProblemError(404, f"unknown {kind.value} {doc_id!r} in organization {org_id!r}")
    return json_response(doc)


@routes.put(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def put_document(request: web.Request) -> web.Response:
    kind = _kind(request)
    org_id, doc_id = request.match_info["orgId"], request.match_info["docId"]
    doc = await p.json_object(request)
    if "id" in doc and doc["id"] != doc_id:
        p.invalid(
            [p.FieldIssue("id", f"must match the id in the path ({doc_id!r}) or be left out")]
        )
    doc["id"] = doc_id
    validate_document(kind, doc)
    stored = await request.app[CATALOG_KEY].upsert(kind, org_id, _strip(doc))
    return json_response(stored)


@routes.patch(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def patch_document(request: web.Request) -> web.Response:
    """A JSON merge patch (RFC 7386): objects merge key by key, ``null`` removes a key.

    On a suite, a patch that sets ``schedule`` restarts its clock: ``nextRunAt`` becomes the
    next due time from now (unless the patch gives one); ``lastRunAt`` is kept.
    """
    kind = _kind(request)
    org_id, doc_id = request.match_info["orgId"], request.match_info["docId"]
    patch = await p.json_object(request)
    if "id" in patch and patch["id"] != doc_id:
        p.invalid([p.FieldIssue("id", f"cannot be changed (the document is {doc_id!r})")])
    catalog = request.app[CATALOG_KEY]
    current = await catalog.get(kind, org_id, doc_id)
    if current is None:
        raise ProblemError(404, f"unknown {kind.value} {doc_id!r} in organization {org_id!r}")
    doc = _merge(_strip(current), patch)
    doc["id"] = doc_id
    validate_document(kind, doc)
    schedule = patch.get("schedule")
    if kind is CatalogKind.SUITES and isinstance(schedule, dict):
        read = read_schedule(doc)
        if read is not None and "nextRunAt" not in schedule:
            now = request.app[CLOCK_KEY].now()
            doc["schedule"]["nextRunAt"] = iso_time(next_run_after(read, now))
    stored = await catalog.upsert(kind, org_id, doc)
    return json_response(stored)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


@routes.delete(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def delete_document(request: web.Request) -> web.Response:
    kind = _kind(request)
    org_id, doc_id = request.match_info["orgId"], request.match_info["docId"]
    if not await request.app[CATALOG_KEY].delete(kind, org_id, doc_id):
        raise ProblemError(404, f"unknown {kind.value} {doc_id!r} in organization {org_id!r}")
    return web.Response(status=204)


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _SYSTEM_FIELDS}
