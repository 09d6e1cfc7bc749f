"""Where the client commands (``lamdis wait``, ``lamdis runs list/show``) read runs.

``--server`` or ``LAMDIS_SERVER``: the hosted API. Else, like the seed's wait script, the
database named by ``MONGO_URL`` / ``DATABASE_URL`` (``DB_PROVIDER``), read through the same
store adapter the service uses and shown as the API shows runs. Else
``http://127.0.0.1:3101``.
"""

from __future__ import annotations

import os
from typing import Any

from lamdis_http.cli._client import ApiClient, ApiError, default_server


class StoreReader:
    """Answers the API's two run reads (``GET /internal/runs`` and ``/internal/runs/{id}``)
    from the database through the same :class:`~lamdis_core.service.RunService` the API
    calls, with the API's JSON. ``items``: whether a run is read with its items."""

    def __init__(self, env: dict[str, str], *, items: bool) -> None:
        self.env = env
        self.items = items
        self.store: Any = None
        self.service: Any = None

    async def __aenter__(self) -> StoreReader:
        from lamdis_core.service import RunService

        from lamdis_http import registry

        self.store, catalog = await registry.open_store(self.env)
        self.service = RunService(self.store, catalog)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.aclose()

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None) -> Any:
        from lamdis_core.service import ServiceError, UnknownRunError

        from lamdis_http._problems import ProblemError
        from lamdis_http.routes.runs import page_to_json, run_filter_of, run_to_json

        try:
            if path == "/internal/runs":
                return page_to_json(await self.service.page(run_filter_of(params or {})))
            run_id = path.rsplit("/", 1)[-1]
            return run_to_json(await self.service.get(run_id, include_items=self.items))
        except UnknownRunError as exc:
            raise ApiError(f"run {exc.run_id!r} not found in the database", status=404) from exc
        except ProblemError as exc:
            raise ApiError(_without_prefix(exc.detail), status=exc.status) from exc
        except ServiceError as exc:
            raise ApiError(str(exc), status=400) from exc


def _without_prefix(detail: str) -> str:
    # The API says "invalid request body: limit: ..."; a command line has no body.
    return detail.removeprefix("invalid request body: ")


def run_source(server: str | None, *, items: bool) -> ApiClient | StoreReader:
    """The hosted API named by ``server``/``LAMDIS_SERVER``, else the database the environment
    names, else the default server (see the module docstring)."""
    from lamdis_http import registry

    if server or os.environ.get("LAMDIS_SERVER", "").strip():
        return ApiClient(server or default_server())
    env = dict(os.environ)
    if registry.db_provider(env) != "local":
        return StoreReader(env, items=items)
    return ApiClient(default_server())
