"""Fixtures for the hosted API: the demo assistant on a free loopback port, a config tree that
points at it, and a composed service on the in-memory store (pytest-aiohttp's client)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from lamdis_core.config.env_policy import EnvPolicy
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.service import import_config_tree
from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore
from lamdis_http.bootstrap import Settings, build_app
from lamdis_http.demo import start_demo_server
from lamdis_http.requests import AiohttpRequester
from lamdis_http.targets.http_chat import HttpChatTargetFactory
from lamdis_store_postgres import PostgresRunStore, create_pool

from tests.http._configs import write_config_tree

ORG = "acme"
TOKEN = "t0ken-for-tests"
SECRET = "hmac-secret-for-tests"


@pytest.fixture
async def demo_url() -> AsyncIterator[str]:
    runner, url = await start_demo_server("127.0.0.1", 0, latency_ms=0)
    try:
        yield url
    finally:
        await runner.cleanup()


@pytest.fixture
def config_dir(tmp_path: Path, demo_url: str) -> Path:
    return write_config_tree(tmp_path / "configs", demo_url)


class Service:
    """A composed app plus handles on its store, catalog and client."""

    def __init__(
        self,
        client: TestClient,
        store: InMemoryRunStore,
        catalog: InMemoryCatalog,
        app: web.Application,
    ) -> None:
        self.client = client
        self.store = store
        self.catalog = catalog
        self.app = app


MakeService = Callable[..., Awaitable[Service]]


@pytest.fixture
async def make_service(aiohttp_client: Any, config_dir: Path) -> AsyncIterator[MakeService]:
    """Build a service; ``settings`` overrides and adapters may be passed."""
    opened: list[Any] = []

    async def make(
        *,
        token: str | None = None,
        secret: str | None = None,
        start_worker: bool = True,
        lease_seconds: float = 30.0,
        import_tree: bool = True,
        store: InMemoryRunStore | None = None,
        judge: Any = None,
        notifier: Any = None,
        max_runs: int = 4,
        worker_id: str | None = None,
        env: dict[str, str] | None = None,
        max_cost: float | None = None,
    ) -> Service:
        store = store or InMemoryRunStore()
        catalog = InMemoryCatalog()
        if import_tree:
            await import_config_tree(catalog, config_dir, org_id=ORG)
        targets = {"http_chat": HttpChatTargetFactory()}
        requester = AiohttpRequester()
        opened.extend([*targets.values(), requester])
        settings = Settings(
            api_token=token,
            hmac_secret=secret,
            config_dir=config_dir,
            lease_seconds=lease_seconds,
            max_runs=max_runs,
            drain_seconds=0,  # teardown must not wait for runs a test left going
            catalog_env=EnvPolicy.from_env(env or {}),
            env=env or {},
            max_cost=max_cost,
        )
        app = build_app(
            settings,
            store=store,
            catalog=catalog,
            judge=judge or OfflineJudge(),
            targets=targets,
            requester=requester,
            notifier=notifier,
            start_worker=start_worker,
            poll_seconds=0.05,
            worker_id=worker_id,
        )
        client = await aiohttp_client(app)
        return Service(client, store, catalog, app)

    yield make
    for adapter in opened:
        await adapter.aclose()


@pytest.fixture
async def service(make_service: MakeService) -> Service:
    return await make_service()


@pytest.fixture
async def pg_store(postgres_dsn: str) -> AsyncIterator[PostgresRunStore]:
    """A PostgreSQL run store on the test's fresh database."""
    store = PostgresRunStore(await create_pool(postgres_dsn, max_size=4))
    yield store
    await store.aclose()
