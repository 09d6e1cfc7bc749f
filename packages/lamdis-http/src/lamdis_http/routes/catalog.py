"""CRUD on the catalog: ``/orgs/{orgId}/{suites|tests|environments|personas|requests}[/{id}]``.

The handlers read the request and call :class:`lamdis_core.service.catalog.CatalogService`,
which checks documents against the domain model before they are stored (docs/formats.md as
JSON, each with a string ``id``); its errors become problems in the error middleware (400
naming every field, 404, 409). Ids may contain ``/`` (``assistants/dev/v1``).
"""

from __future__ import annotations

from aiohttp import web
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.service.catalog import CatalogService

from lamdis_http import _problems as p
from lamdis_http.app import CATALOG_SERVICE_KEY, json_response

routes = web.RouteTableDef()

KINDS = ("suites", "tests", "environments", "personas", "requests")
_KIND = "{kind:suites|tests|environments|personas|requests}"


def _service(request: web.Request) -> CatalogService:
    return request.app[CATALOG_SERVICE_KEY]


def _kind(request: web.Request) -> CatalogKind:
    return CatalogKind(request.match_info["kind"])


def _where(request: web.Request) -> tuple[CatalogKind, str, str]:
    return _kind(request), request.match_info["orgId"], request.match_info["docId"]


@routes.get(f"/orgs/{{orgId}}/{_KIND}")
async def list_documents(request: web.Request) -> web.Response:
    limit = 500
    if "limit" in request.query:
        try:
            limit = int(request.query["limit"])
        except ValueError:
            limit = -1
    docs = await _service(request).list(_kind(request), request.match_info["orgId"], limit=limit)
    return json_response({"items": docs})


@routes.post(f"/orgs/{{orgId}}/{_KIND}")
async def create_document(request: web.Request) -> web.Response:
    doc = await p.json_object(request)
    stored = await _service(request).create(_kind(request), request.match_info["orgId"], doc)
    return json_response(stored, status=201)


@routes.get(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def get_document(request: web.Request) -> web.Response:
    return json_response(await _service(request).get(*_where(request)))


@routes.put(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def put_document(request: web.Request) -> web.Response:
    doc = await p.json_object(request)
    return json_response(await _service(request).put(*_where(request), doc))


@routes.patch(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def patch_document(request: web.Request) -> web.Response:
    """A JSON merge patch (RFC 7386): objects merge key by key, ``null`` removes a key.

    On a suite, a patch that sets ``schedule`` restarts its clock: ``nextRunAt`` becomes the
    next due time from now (unless the patch gives one); ``lastRunAt`` is kept.
    """
    patch = await p.json_object(request)
    return json_response(await _service(request).patch(*_where(request), patch))


@routes.delete(f"/orgs/{{orgId}}/{_KIND}/{{docId:.+}}")
async def delete_document(request: web.Request) -> web.Response:
    await _service(request).delete(*_where(request))
    return web.Response(status=204)
