"""``GET /health``: liveness, and which store and judge are in use (no auth)."""

from __future__ import annotations

from aiohttp import web

from lamdis_http.app import JUDGE_KEY, STORE_NAME_KEY, WORKER_KEY, json_response

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    app = request.app
    judge = app[JUDGE_KEY]
    worker = app.get(WORKER_KEY)
    return json_response(
        {
            "status": "ok",
            "store": app[STORE_NAME_KEY],
            "judge": judge.name,
            "judgeOffline": bool(getattr(judge, "offline", False)),
            "activeRuns": worker.active_count if worker is not None else 0,
        }
    )
