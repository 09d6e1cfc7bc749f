"""What an embedder with its own scheduler runs: the worker pool of :mod:`lamdis_core.service`
on a database store, in a process that never imports lamdis_http (run by each store's tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

EMBEDDER = textwrap.dedent(
    """
    import asyncio, sys

    from lamdis_core.config.loader import CatalogDocuments, plan_from_documents
    from lamdis_core.domain.results import Run, RunStatus, WebhookDelivery
    from lamdis_core.engine import Engine
    from lamdis_core.offline_judge import OfflineJudge
    from lamdis_core.ports.catalog import CatalogKind
    from lamdis_core.ports.clock import SystemClock
    from lamdis_core.service import SuitePlan, WorkerPool
    from lamdis_core.testing.fakes import FakeRequester, FakeTargetFactory
    from STORE_MODULE import open_store


    class Plans:
        def __init__(self, catalog):
            self.catalog = catalog

        async def build(self, run):
            suite = await self.catalog.get(CatalogKind.SUITES, run.org_id, run.suite_id)
            source = CatalogDocuments(self.catalog, run.org_id)
            plan = await plan_from_documents(suite, source, env={})
            return [SuitePlan(run.suite_id, plan)]


    class Notes:
        def __init__(self):
            self.sent = []

        async def deliver(self, url, payload):
            self.sent.append(payload)
            return WebhookDelivery(url=url, ok=True, attempts=1, status=204)


    async def main():
        store, catalog = await open_store({"URL_VARIABLE": sys.argv[1]})
        await catalog.upsert(CatalogKind.ENVIRONMENTS, "acme", {
            "id": "bot", "env": {"channel": "http_chat", "baseUrl": "http://bot.invalid"}})
        await catalog.upsert(CatalogKind.TESTS, "acme", {"id": "t", "tests": [
            {"id": "greets", "steps": [{"type": "message", "content": "hi"},
                                       {"type": "includes", "includes": ["hello"]}]},
            {"id": "refuses", "steps": [{"type": "message", "content": "promise me"},
                                        {"type": "includes", "includes": ["guaranteed"]}]}]})
        await catalog.upsert(CatalogKind.SUITES, "acme", {
            "id": "s", "assistants": {"include": ["bot"]}, "tests": {"includeFiles": ["t"]}})
        targets = FakeTargetFactory(lambda turn: "hello there")
        engine = Engine(targets={"http_chat": targets}, judge=OfflineJudge(),
                        requester=FakeRequester(), env={})

        async def engines(plan):
            return engine

        notes = Notes()
        pool = WorkerPool(store=store, engines=engines, plans=Plans(catalog), notifier=notes,
                          clock=SystemClock(), mode="MODE", poll_seconds=0.05,
                          lease_seconds=5)
        await pool.start()
        run = await store.create_run(Run(org_id="acme", suite_id="s",
                                         webhook_url="http://hooks.invalid/x"))
        pool.wake()
        for _ in range(600):
            stored = await store.get_run(run.id, include_items=True)
            if stored.status.is_final and stored.webhook is not None:
                break
            await asyncio.sleep(0.05)
        await pool.close(drain_seconds=1)
        await store.aclose()
        print(stored.status, stored.totals.passed, stored.totals.failed,
              sorted(i.test_id for i in stored.items), len(notes.sent),
              stored.webhook.ok if stored.webhook else None)
        print(sorted(m for m in sys.modules if m.split(".")[0] == "lamdis_http"))


    asyncio.run(main())
    """
)


def run_embedder(store_module: str, url_variable: str, url: str, mode: str) -> tuple[str, str]:
    """Run the embedder on the store of ``store_module`` at ``url``; returns its result line
    and the lamdis_http modules it imported."""
    script = (
        EMBEDDER.replace("STORE_MODULE", store_module)
        .replace("URL_VARIABLE", url_variable)
        .replace("MODE", mode)
    )
    done = subprocess.run(
        [sys.executable, "-c", script, url],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("LAMDIS_")},
    )
    assert done.returncode == 0, done.stderr
    result, imported = done.stdout.strip().splitlines()[-2:]
    return result, imported
