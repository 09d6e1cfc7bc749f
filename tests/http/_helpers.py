"""Small helpers for the hosted-API tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient

FINAL = {"passed", "failed", "partial", "stopped"}


async def start(client: TestClient, body: dict[str, Any], **kwargs: Any) -> str:
    resp = await client.post("/internal/runs/start", json=body, **kwargs)
    assert resp.status == 202, await resp.text()
    data = await resp.json()
    assert data["status"] == "queued"
    return str(data["runId"])


async def wait_status(  # a polling deadline
    client: TestClient,
    run_id: str,
    wanted: set[str] | None = None,
    *,
    within: float = 20.0,
    **kwargs: Any,
) -> dict[str, Any]:
    """Poll the run until its status is in ``wanted`` (default: any final status)."""
    wanted = wanted or FINAL
    deadline = time.monotonic() + within
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = await client.get(f"/internal/runs/{run_id}", **kwargs)
        assert resp.status == 200, await resp.text()
        seen = await resp.json()
        if seen["status"] in wanted:
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never reached {wanted}; last seen: {seen.get('status')}")
