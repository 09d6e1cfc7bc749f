"""The server agrees with its own /openapi.json (issue 16 item 10).

Property-based: schemathesis reads the description from the running server and generates
requests for every operation, valid and invalid; a 5xx, an undocumented status, a response
that does not fit its schema, a request the description calls invalid that is accepted, or a
405 without ``Allow`` fails the test. The server is a real one on a loopback port (its own
event loop in a thread), with an empty config root and no worker, so nothing generated can
start a long run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore
from lamdis_http.bootstrap import Settings, build_app
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.fixtures.servers import free_port
from tests.http._helpers import start
from tests.http.conftest import ORG, MakeService, Service

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]

EXAMPLES = 5
"""Per operation and mode: about 350 requests over the 35 operations, some 20 s here."""


class _LiveServer:
    """The hosted app on 127.0.0.1 in a background thread with its own event loop."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        app = build_app(
            Settings(config_dir=self.config_dir, env={}, drain_seconds=0),
            store=InMemoryRunStore(),
            catalog=InMemoryCatalog(),
            judge=OfflineJudge(),
            targets={},
            start_worker=False,
        )
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_LiveServer]:
    server = _LiveServer(tmp_path_factory.mktemp("empty-config-root"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(live_server: _LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")


def test_the_server_conforms_to_its_openapi_description(api_schema: Any) -> None:
    """Every operation, positive and negative cases, held to the description."""
    failures: list[str] = []
    session = requests.Session()  # one keep-alive connection for every generated request
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 25
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def conforms(case: Any) -> None:
                case.call_and_validate(session=session, checks=CHECKS)

            try:
                conforms()
            except Unsatisfiable:
                # An operation without parameters or body has no invalid input to send.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # collect every operation's failure, not just the first
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


# --- the findings, one by one ----------------------------------------------------------------


async def test_a_405_keeps_its_allow_header(service: Service) -> None:
    resp = await service.client.patch("/internal/runs")
    assert resp.status == 405
    assert resp.content_type == "application/problem+json"
    assert "GET" in resp.headers["Allow"]


async def test_put_of_an_empty_document_is_refused(service: Service) -> None:
    for kind in ("suites", "tests", "environments", "personas", "requests"):
        resp = await service.client.put(f"/orgs/{ORG}/{kind}/empty", json={})
        assert resp.status == 400, (kind, await resp.text())
        resp = await service.client.post(f"/orgs/{ORG}/{kind}", json={"id": "empty"})
        assert resp.status == 400, (kind, await resp.text())
        assert (await service.client.get(f"/orgs/{ORG}/{kind}/empty")).status == 404


async def test_a_start_naming_an_unknown_test_is_a_404_up_front(
    make_service: MakeService,
) -> None:
    service = await make_service(start_worker=False)
    resp = await service.client.post(
        "/internal/runs/start", json={"suiteId": "smoke", "tests": ["greets", "no-such-test"]}
    )
    assert resp.status == 404, await resp.text()
    body = await resp.json()
    assert body["field"] == "tests" and "'no-such-test'" in body["detail"]
    assert "'greets'" not in body["detail"].split(";")[0]
    assert (await (await service.client.get("/internal/runs")).json())["runs"] == []
    await start(service.client, {"suiteId": "smoke", "tests": ["greets"]})
    await start(service.client, {"suiteId": "smoke", "tests": ["smoke-tests"]})


async def test_the_description_states_the_limits_the_server_enforces(service: Service) -> None:
    spec = await (await service.client.get("/openapi.json")).json()
    run_param = spec["paths"]["/internal/runs/{runId}"]["get"]["parameters"][0]
    assert run_param["schema"]["minLength"] == 1
    listing = spec["paths"]["/orgs/{orgId}/suites"]["get"]
    assert "400" in listing["responses"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 5000)
    resp = await service.client.get(f"/orgs/{ORG}/suites", params={"limit": "0"})
    assert resp.status == 400
