"""Route tables of the hosted API, one module per area."""

from __future__ import annotations

from aiohttp import web

from lamdis_http.routes import catalog, diff, files, health, judge, runs


def setup_routes(app: web.Application) -> None:
    """Add every route of the hosted API to ``app``."""
    from lamdis_http import openapi

    for module in (health, runs, diff, files, judge, catalog, openapi):
        app.router.add_routes(module.routes)


__all__ = ["setup_routes"]
