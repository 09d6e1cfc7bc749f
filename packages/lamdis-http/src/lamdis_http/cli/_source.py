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
    from the database, with the API's JSON. ``items``: whether a run is read with its items."""

    def __init__(self, env: dict[str, str], *, items: bool) -> None:
        self.env = env
        self.items = items
        self.store: Any = None

    async def __aenter__(self) -> StoreReader:
        from lamdis_http import registry

        self.store, _ = await registry.open_store(self.env)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.aclose()

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None) -> Any:
        from lamdis_core.domain.results import RunStatus
        from lamdis_core.ports.store import RunFilter

        from lamdis_http.routes.runs import MAX_LIST_LIMIT, run_to_json

        if path == "/internal/runs":
            params = params or {}
            status = params.get("status")
            limit = int(params.get("limit", "20"))
            if not 1 <= limit <= MAX_LIST_LIMIT:
                raise ApiError(f"limit: expected an integer from 1 to {MAX_LIST_LIMIT}", status=400)
            runs = await self.store.list_runs(
                RunFilter(
                    org_id=params.get("orgId") or None,
                    suite_id=params.get("suiteId") or None,
                    status=RunStatus(status) if status else None,
                    limit=limit,
                )
            )
            return {"runs": [run_to_json(r) for r in runs]}
        run_id = path.rsplit("/", 1)[-1]
        run = await self.store.get_run(run_id, include_items=self.items)
        if run is None:
            raise ApiError(f"run {run_id!r} not found in the database", status=404)
        return run_to_json(run)


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
